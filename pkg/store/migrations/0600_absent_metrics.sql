-- absent: the metric columns of the row the report did not give (k6 run with
-- --summary-trend-stats without p(95), Lighthouse before 6 without LCP).
-- Their value is 0 and means unknown, never a measured zero; the scorer
-- scores a budget on one as unknown.
ALTER TABLE {{.DB}}.load_runs ADD COLUMN absent Array(String);
ALTER TABLE {{.DB}}.web_vitals ADD COLUMN absent Array(String);

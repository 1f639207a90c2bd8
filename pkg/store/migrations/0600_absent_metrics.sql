-- absent: the metric columns of the row the report did not give (k6 run with
-- --summary-trend-stats without p(95), Lighthouse before 6 without LCP).
-- Their value is 0 and means unknown, never a measured zero; the scorer
-- scores a budget on one as unknown.
{{range .Alter "load_runs"}}ALTER TABLE {{.}} ADD COLUMN absent Array(String);
{{end}}
{{.Distributed "load_runs" "cityHash64(tenant, repository)"}}
{{range .Alter "web_vitals"}}ALTER TABLE {{.}} ADD COLUMN absent Array(String);
{{end}}
{{.Distributed "web_vitals" "cityHash64(tenant, repository)"}}

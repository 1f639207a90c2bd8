-- Types of current servers. On servers with DateTime64 (20.1+) the evidence
-- log keeps when evidence was received and stored to the millisecond, so
-- ingest latency is measured below a second. Reads bind times in seconds,
-- which compares the same on both types (a whole second t: x < t on
-- DateTime64 exactly when the second of x is before t). 18.16 keeps DateTime.
{{if .DateTime64}}
{{range .Alter "evidence_log"}}ALTER TABLE {{.}}
  MODIFY COLUMN received_at DateTime64(3),
  MODIFY COLUMN stored_at DateTime64(3);
{{end}}
{{.Distributed "evidence_log" "cityHash64(tenant, repository)"}}
{{end}}

-- findings (the fact table of scan events): what the finding's run covered
-- and whether govulncheck found a call to it (called, imported, required;
-- '' when the tool does not say).
{{range .Alter "findings"}}ALTER TABLE {{.}} ADD COLUMN reachability String DEFAULT '';
ALTER TABLE {{.}} ADD COLUMN scope_root String DEFAULT '';
ALTER TABLE {{.}} ADD COLUMN scope_language String DEFAULT '';
ALTER TABLE {{.}} ADD COLUMN scope_target String DEFAULT '';
ALTER TABLE {{.}} ADD COLUMN automation_id String DEFAULT '';
{{end}}
{{.Distributed "findings" "cityHash64(tenant, repository)"}}

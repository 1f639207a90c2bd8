-- Trace lens: trace_findings, one row per detection fingerprint (an N+1
-- query, a run of serial calls, a synchronous third-party call, a slow
-- statement of one service and journey) over every stored window: what it
-- cost, what fixing it saves, when it was first and last seen, and example
-- traces. Dashboards and the scorecard read this view, not trace_detections.
CREATE VIEW IF NOT EXISTS {{.DB}}.trace_findings{{.OnCluster}} AS
SELECT
  tenant,
  environment,
  service,
  journey,
  type,
  fingerprint,
  any(operation) AS operation,
  any(parent_operation) AS parent_operation,
  min(window_start) AS first_seen,
  max(window_start) AS last_seen,
  count() AS windows,
  sum(occurrences) AS occurrences,
  sum(affected_traces) AS traces_affected,
  sum(total_ms) AS total_ms,
  sum(savings_ms * affected_traces) AS savings_total_ms,
  arraySlice(groupUniqArrayArray(exemplar_trace_ids), 1, 10) AS exemplar_trace_ids
FROM {{.DB}}.trace_detections FINAL
GROUP BY tenant, environment, service, journey, type, fingerprint;

package dashboards

// Every query filters on the tenant variable; time-bounded ones use the
// ClickHouse data source's $__fromTime and $__toTime macros, which render as
// toDateTime(...) and so work on ClickHouse 18.16.
const (
	tenantFilter = "tenant = '${tenant}'"
)

// Boards lists the dashboards in the order they are written.
func Boards() []Board {
	return []Board{executive(), performance(), security(), scalability()}
}

func executive() Board {
	return Board{
		UID:         "trilens-executive",
		Title:       "Trilens: executive scorecard",
		Description: "KPI status per lens and service, weekly trends, top risks, expiring waivers and DORA metrics.",
		Panels: []Panel{
			{Title: "Failing KPIs", Kind: KindStat, W: 6, H: 4, Targets: []Target{{
				SQL:     "SELECT count() AS failing FROM dash_kpi_latest WHERE " + tenantFilter + " AND status = 'fail'",
				Columns: []string{"failing"},
			}}},
			{Title: "KPIs within budget", Kind: KindStat, Unit: "percentunit", W: 6, H: 4, Targets: []Target{{
				SQL:     "SELECT if(count() > 0, countIf(status = 'pass') / count(), 1) AS within_budget FROM dash_kpi_latest WHERE " + tenantFilter,
				Columns: []string{"within_budget"},
			}}},
			{Title: "Open findings", Kind: KindStat, W: 6, H: 4, Targets: []Target{{
				SQL:     "SELECT count() AS open_findings FROM dash_findings_open WHERE " + tenantFilter,
				Columns: []string{"open_findings"},
			}}},
			{Title: "Waivers expiring within 30 days", Kind: KindStat, W: 6, H: 4, Targets: []Target{{
				SQL:     "SELECT count() AS expiring FROM dash_waivers WHERE " + tenantFilter + " AND days_left <= 30",
				Columns: []string{"expiring"},
			}}},
			{Title: "KPI status per lens and service", Kind: KindTable, W: 12, H: 9, Targets: []Target{{
				SQL: "SELECT lens, scope, countIf(status = 'pass') AS pass, countIf(status = 'warn') AS warn, countIf(status = 'fail') AS fail " +
					"FROM dash_kpi_latest WHERE " + tenantFilter + " GROUP BY lens, scope ORDER BY fail DESC, lens, scope",
				Columns: []string{"lens", "scope", "pass", "warn", "fail"},
			}}},
			{Title: "Share of KPI points within budget, per week", Kind: KindTimeSeries, Unit: "percentunit", W: 12, H: 9, Targets: []Target{{
				SQL: "SELECT toDateTime(week) AS time, lens, pass_ratio FROM dash_kpi_weekly WHERE " + tenantFilter +
					" AND week >= toDate($__fromTime) AND week <= toDate($__toTime) ORDER BY time",
				Columns: []string{"time", "lens", "pass_ratio"},
			}}},
			{Title: "Top risks: furthest over budget", Description: "KPIs failing now, by value over budget.", Kind: KindTable, W: 12, H: 9, Targets: []Target{{
				SQL: "SELECT lens, kpi, scope, owner, value, budget, over_budget FROM dash_risks WHERE " + tenantFilter +
					" ORDER BY over_budget DESC LIMIT 10",
				Columns: []string{"lens", "kpi", "scope", "owner", "value", "budget", "over_budget"},
			}}},
			{Title: "Waivers by expiry", Kind: KindTable, W: 12, H: 9, Targets: []Target{{
				SQL: "SELECT waiver_id, lens, target, scope, owner, expires_at, days_left FROM dash_waivers WHERE " + tenantFilter +
					" ORDER BY expires_at LIMIT 20",
				Columns: []string{"waiver_id", "lens", "target", "scope", "owner", "expires_at", "days_left"},
			}}},
			{Title: "DORA: deploys and change failure rate per week", Description: "Empty until CI and deploy events arrive.", Kind: KindTimeSeries, W: 24, H: 8, Targets: []Target{{
				SQL: "SELECT toDateTime(week) AS time, deploys, change_failure_rate, incidents, restore_hours FROM dash_dora_weekly WHERE " + tenantFilter +
					" AND week >= toDate($__fromTime) AND week <= toDate($__toTime) ORDER BY time",
				Columns: []string{"time", "deploys", "change_failure_rate", "incidents", "restore_hours"},
			}}},
		},
	}
}

func performance() Board {
	return Board{
		UID:         "trilens-performance",
		Title:       "Trilens: performance lens",
		Description: "Journey latency against budgets, where the time goes, and the trace anti-patterns found.",
		Panels: []Panel{
			{Title: "Journey p95 vs budget", Description: "Worst window p95 per hour; dashed: the newest budget of each hour.", Kind: KindTimeSeries, Unit: "ms", W: 16, H: 9, Targets: []Target{
				{
					// The trace panels read the hourly rollups (0814) as tables,
					// for the same reason as the budgets below.
					SQL: "SELECT hour AS time, journey, maxMerge(p95_state) AS p95_ms FROM journey_hourly WHERE " + tenantFilter + " AND hour" + rangeOf("hour") +
						" GROUP BY hour, service, journey ORDER BY time",
					Columns: []string{"time", "journey", "p95_ms"},
				},
				{
					// The newest budget per journey and hour from the kpi_hourly
					// rollup, read as a table: 18.16 would not push the time
					// range into a view, which then reads all history.
					SQL: "SELECT hour AS time, concat(scope, ' budget') AS journey, argMaxMerge(budget_state) AS budget FROM kpi_hourly WHERE " + tenantFilter +
						" AND kpi = 'journey.p95_ms' AND hour >= toStartOfHour($__fromTime) AND hour <= $__toTime GROUP BY hour, scope ORDER BY time, journey",
					Columns: []string{"time", "journey", "budget"},
				},
			}},
			{Title: "Journeys now", Kind: KindTable, W: 8, H: 9, Targets: []Target{{
				SQL:     "SELECT scope AS journey, value AS p95_ms, budget AS budget_ms, status FROM dash_kpi_latest WHERE " + tenantFilter + " AND kpi = 'journey.p95_ms' ORDER BY journey",
				Columns: []string{"journey", "p95_ms", "budget_ms", "status"},
			}}},
			{Title: "Hop breakdown (p95 per hop)", Kind: KindTimeSeries, Unit: "ms", W: 12, H: 9, Targets: []Target{{
				SQL: "SELECT hour AS time, concat(journey, ' ', hop) AS hop_of_journey, maxMerge(p95_state) AS p95_ms FROM hop_hourly WHERE " + tenantFilter + " AND hour" + rangeOf("hour") +
					" GROUP BY hour, service, journey, hop ORDER BY time",
				Columns: []string{"time", "hop_of_journey", "p95_ms"},
			}}},
			{Title: "Error rate per journey", Kind: KindTimeSeries, Unit: "percentunit", W: 12, H: 9, Targets: []Target{{
				SQL: "SELECT hour AS time, journey, if(requests > 0, errors / requests, 0) AS error_rate FROM (SELECT hour, journey, sumMerge(requests_state) AS requests, sumMerge(errors_state) AS errors FROM journey_hourly WHERE " + tenantFilter +
					" AND hour" + rangeOf("hour") + " GROUP BY hour, service, journey) ORDER BY time",
				Columns: []string{"time", "journey", "error_rate"},
			}}},
			{Title: "Detections by savings", Description: "N+1 queries, serial calls, synchronous third-party calls and slow queries.", Kind: KindTable, W: 14, H: 9, Targets: []Target{{
				SQL: "SELECT type, service, operation, occurrences, affected_traces, savings_ms, last_seen FROM dash_detections WHERE " + tenantFilter +
					" AND last_seen" + rangeOf("last_seen") + " ORDER BY savings_ms DESC LIMIT 20",
				Columns: []string{"type", "service", "operation", "occurrences", "affected_traces", "savings_ms", "last_seen"},
			}}},
			{Title: "Slow queries", Kind: KindTable, W: 10, H: 9, Targets: []Target{{
				SQL: "SELECT service, operation AS statement, occurrences AS calls, total_ms FROM dash_detections WHERE " + tenantFilter +
					" AND type = 'slow_query' AND last_seen" + rangeOf("last_seen") + " ORDER BY total_ms DESC LIMIT 10",
				Columns: []string{"service", "statement", "calls", "total_ms"},
			}}},
		},
	}
}

func security() Board {
	return Board{
		UID:         "trilens-security",
		Title:       "Trilens: security lens",
		Description: "Open findings by severity and age, exploited vulnerabilities, supply-chain signatures, licences and pinning.",
		Panels: []Panel{
			{Title: "Exploited vulnerabilities open (KEV)", Kind: KindStat, W: 6, H: 4, Targets: []Target{{
				SQL:     "SELECT sum(value) AS kev_open FROM dash_kpi_latest WHERE " + tenantFilter + " AND kpi = 'security.kev_open'",
				Columns: []string{"kev_open"},
			}}},
			{Title: "Median age of open vulnerabilities", Kind: KindStat, Unit: "d", W: 6, H: 4, Targets: []Target{{
				SQL:     "SELECT quantile(0.5)(age_days) AS median_age_days FROM dash_findings_open WHERE " + tenantFilter + " AND category = 'vulnerability'",
				Columns: []string{"median_age_days"},
			}}},
			{Title: "Artifacts signed, verified, with provenance", Kind: KindStat, Unit: "percentunit", W: 12, H: 4, Targets: []Target{{
				SQL:     "SELECT avg(signed) AS signed, avg(verified) AS verified, avg(has_provenance) AS provenance FROM dash_artifacts WHERE " + tenantFilter,
				Columns: []string{"signed", "verified", "provenance"},
			}}},
			{Title: "Open findings by severity and age", Kind: KindTable, W: 12, H: 8, Targets: []Target{{
				SQL: "SELECT severity, countIf(age_days < 7) AS under_7d, countIf(age_days >= 7 AND age_days < 30) AS from_7_to_30d, " +
					"countIf(age_days >= 30 AND age_days < 90) AS from_30_to_90d, countIf(age_days >= 90) AS over_90d, count() AS total " +
					"FROM dash_findings_open WHERE " + tenantFilter + " GROUP BY severity ORDER BY total DESC",
				Columns: []string{"severity", "under_7d", "from_7_to_30d", "from_30_to_90d", "over_90d", "total"},
			}}},
			{Title: "Oldest open findings", Kind: KindTable, W: 12, H: 8, Targets: []Target{{
				SQL: "SELECT severity, title, package_name, repository, age_days FROM dash_findings_open WHERE " + tenantFilter +
					" ORDER BY age_days DESC LIMIT 20",
				Columns: []string{"severity", "title", "package_name", "repository", "age_days"},
			}}},
			{Title: "Licences in use", Kind: KindTable, W: 12, H: 8, Targets: []Target{{
				SQL: "SELECT licence, uniqExact(purl) AS components FROM dash_components ARRAY JOIN licenses AS licence WHERE " + tenantFilter +
					" GROUP BY licence ORDER BY components DESC LIMIT 20",
				Columns: []string{"licence", "components"},
			}}},
			{Title: "Pinned dependencies per repository", Kind: KindTable, W: 12, H: 8, Targets: []Target{{
				SQL: "SELECT repository, avg(pinned) AS pinned_share, max(lockfile_present) AS lockfile, uniqExact(purl) AS components FROM dash_components WHERE " + tenantFilter +
					" GROUP BY repository ORDER BY pinned_share",
				Columns: []string{"repository", "pinned_share", "lockfile", "components"},
			}}},
		},
	}
}

func scalability() Board {
	return Board{
		UID:         "trilens-scalability",
		Title:       "Trilens: scalability lens",
		Description: "Capacity envelopes and headroom from load tests, their trends, and web vitals.",
		Panels: []Panel{
			{Title: "Headroom per load test (latest run)", Kind: KindTable, W: 12, H: 8, Targets: []Target{{
				SQL: "SELECT test_name, argMax(max_sustainable_rps, started_at) AS sustainable_rps, argMax(knee_rps, started_at) AS knee, " +
					"argMax(headroom, started_at) AS latest_headroom, max(started_at) AS last_run FROM dash_load_runs WHERE " + tenantFilter +
					" GROUP BY test_name ORDER BY latest_headroom",
				Columns: []string{"test_name", "sustainable_rps", "knee", "latest_headroom", "last_run"},
			}}},
			{Title: "Capacity envelope: p95 at each load step", Kind: KindTimeSeries, Unit: "ms", W: 12, H: 8, Targets: []Target{{
				SQL: "SELECT step_start AS time, concat(test_name, ' p95') AS series, p95_ms FROM dash_load_steps WHERE " + tenantFilter +
					" AND step_start" + rangeOf("step_start") + " ORDER BY time",
				Columns: []string{"time", "series", "p95_ms"},
			}}},
			{Title: "Load-test trend: sustainable RPS", Kind: KindTimeSeries, Unit: "reqps", W: 12, H: 8, Targets: []Target{{
				SQL: "SELECT started_at AS time, test_name, max_sustainable_rps FROM dash_load_runs WHERE " + tenantFilter +
					" AND started_at" + rangeOf("started_at") + " ORDER BY time",
				Columns: []string{"time", "test_name", "max_sustainable_rps"},
			}}},
			{Title: "Load-test trend: p95 at peak", Kind: KindTimeSeries, Unit: "ms", W: 12, H: 8, Targets: []Target{{
				SQL: "SELECT started_at AS time, test_name, p95_ms FROM dash_load_runs WHERE " + tenantFilter +
					" AND started_at" + rangeOf("started_at") + " ORDER BY time",
				Columns: []string{"time", "test_name", "p95_ms"},
			}}},
			{Title: "Largest contentful paint per page", Kind: KindTimeSeries, Unit: "ms", W: 12, H: 8, Targets: []Target{{
				SQL: "SELECT observed_at AS time, url, lcp_ms FROM dash_web_vitals WHERE " + tenantFilter +
					" AND observed_at" + rangeOf("observed_at") + " ORDER BY time",
				Columns: []string{"time", "url", "lcp_ms"},
			}}},
			{Title: "Web vitals now", Kind: KindTable, W: 12, H: 8, Targets: []Target{{
				SQL: "SELECT url, form_factor, argMax(lcp_ms, observed_at) AS lcp, argMax(inp_ms, observed_at) AS inp, argMax(cls, observed_at) AS layout_shift, " +
					"argMax(ttfb_ms, observed_at) AS ttfb, argMax(performance_score, observed_at) AS score FROM dash_web_vitals WHERE " + tenantFilter +
					" GROUP BY url, form_factor ORDER BY url",
				Columns: []string{"url", "form_factor", "lcp", "inp", "layout_shift", "ttfb", "score"},
			}}},
		},
	}
}

// rangeOf bounds col to the dashboard's time range.
func rangeOf(col string) string {
	return " >= $__fromTime AND " + col + " <= $__toTime"
}

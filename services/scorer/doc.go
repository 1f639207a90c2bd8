// Package scorer consumes evidence into ClickHouse and scores it: it stores
// every event's rows, then lets each Processor derive state from them
// (lifecycles, KPI points, verdicts), and acks only when all of that
// succeeded. This package is the wiring: Config, New, Start and Stop, and
// the list of processors; the work is done in the packages below it.
//
// # Layout
//
// One package per job, listed from the bottom up. A package may import only
// those listed before it (layout_test.go checks this with go list -deps,
// and that no function body is over 80 lines):
//
//	evidence             shared base: Settings, Processor, the fact rows of an event (Rows), scope, time and verdict helpers
//	chain                the evidence log's digest chain per tenant: linking, signed checkpoints, verification, export
//	respond              JSON answers and the tenant parameter every route shares
//	owners               who owns a gap and how far it reaches, from the policy
//	scan                 scan lens: report parts, finding lifecycle, KEV/EPSS catalogues, scan scorecard route, finding queries
//	sbom                 SBOM lens: licence, pinning and lock-file checks, SBOM diffs, signature and provenance KPIs
//	advisories           OSV advisories: import, match against every stored component version, findings for deployed releases, who uses a package
//	trace                trace lens: journey and hop KPIs, queries for detections, requests and SLO error sums
//	load                 load lens: capacity, load and web-vitals KPIs, load-run regressions (median-MAD band)
//	regression           regression engine over every KPI series: prediction t-test, change points, verdicts
//	ledger               risk ledger: waivers from the policy and the API, their changes, expiry sweeps
//	vex                  VEX documents: vulnerability waivers and fixes out as OpenVEX and CycloneDX, not_affected statements in as waivers
//	scorecard            scorecard and gate, findings, severity in money, security and SLO KPIs, weekly report
//	api                  the scorecard's HTTP routes (no SQL): scorecard, gate, findings, KPIs, verdicts, waivers, report, VEX, badges
//	dora                 DORA's four keys from changes and regression verdicts, GET /v1/dora, the deployed-unsigned gate
//	tracker              issue trackers both ways: blocking gaps as GitHub or Jira issues, a won't-fix as a pending waiver
//	internal/scorertest  helpers the tests of several packages share; no other package imports it
//	scorer               this package: the wiring
//
// Settings and Processor live in evidence, not here, because every lens
// needs them and a lens importing this package would import every lens.
// owners sits below the lenses rather than inside scorecard because the
// security KPIs and the regression engine name owners too.
//
// Table definitions stay in pkg/store: the DDL is one ordered sequence of
// migrations with one schema_migrations table, applied by whoever opens the
// store (collectors, the CLI, tests), read by the dashboards and checked on
// both ClickHouse engines in one place; splitting it per lens would need a
// migration registry for no gain. The Go row batches of tables only one
// lens writes (scan_report_parts, scan_report_findings, finding_lifecycle,
// finding_sources, sbom_violations, sbom_diffs) live in that lens; those every event or
// every lens fills (evidence_log and the fact tables, kpi_points,
// verdicts) stay in pkg/store next to their columns.
package scorer

// Package policy reads trilens.yaml, the budgets-as-code file: which
// services and journeys exist, who owns them, what they may cost in latency,
// errors and risk, and which findings are waived until when. The lenses read
// their sections through this package; the CLI checks a file with
// ValidateFile (`trilens policy validate FILE`).
//
// This comment is the reference for the file. Keep it in step with the
// struct tags in policy.go and the checks in validate.go.
//
// # Conventions
//
//   - Keys are snake_case. Unknown keys are errors, and so are keys given
//     twice. Every problem is reported at once, each as
//     "file:line: key.path[index]: message".
//   - A key left out keeps its default (listed below); `key:` with no value
//     does too. A list in the file replaces the default list.
//   - Latency budgets are numbers of milliseconds: keys ending in _ms, and
//     the hop budgets. Periods (windows, ages) are durations: Go syntax
//     (90s, 1h30m, 48h) with an optional leading number of days (30d,
//     1d12h). Fractions (error_rate, utilisation_ceiling) run from 0 to 1.
//   - YAML anchors, aliases and merge keys (<<: *base) work; merges are
//     shallow, as YAML defines them.
//   - Load reads relative paths (owners.codeowners, security.catalogues,
//     security.signers[].key) relative to the policy file.
//
// # Top level
//
//	version    1, the only schema version (default 1).
//	tenant     the tenant whose evidence this policy judges: 1-63 of
//	           a-z 0-9 _ -, as NATS subjects need (default "default").
//	currency   ISO 4217 code of every revenue figure (default USD).
//
// # services (list)
//
//	name              required, unique.
//	repository        source repository, e.g. github.com/shop/checkout-api.
//	owner             owning team (see owners).
//	tier              1 (most critical) to 3 (default 3).
//	exposure          internet or internal (default internal).
//	revenue_per_hour  revenue that depends on the service, in currency.
//
// When services are listed, every service a journey or owner rule names
// must be one of them.
//
// # journeys (list)
//
//	name              required, unique.
//	service           the service that owns the journey.
//	owner             owning team; default: the owner of service.
//	tier              1-3; default: the tier of service, else 3.
//	revenue_per_hour  revenue flowing through the journey, in currency.
//	match             rules assigning traces to the journey (below); the
//	                  first journey, in file order, with a matching rule
//	                  takes the trace.
//	p95_ms, p99_ms    latency budgets in ms (0: none); p99_ms >= p95_ms.
//	error_rate        budget of failed requests, a fraction (0.01 = 1 %).
//	slo               availability objective (below); absent: none.
//	hops              split of p95_ms by hop, in ms (below); absent: none.
//
// journeys[].match[] — every condition given must hold, at least one given.
// The entry of a trace is its first server span with an http.route (CDN and
// edge roots seldom have one), else its root. service, root_span and
// http_route are patterns where * matches any run of characters.
//
//	service     service.name of the entry span.
//	root_span   name of the root span, e.g. "POST /api/checkout".
//	http_route  http.route of the entry span, e.g. /api/products/{id}.
//	attributes  map of root span attribute -> value that must be equal.
//
// journeys[].slo:
//
//	objective   percentage of good requests, above 0 and below 100
//	            (default 99.9).
//	window      SLO period (default 30d).
//	burn_rates  multiwindow burn-rate alerts: window (at most the SLO
//	            window), short_window (shorter than window; 0: none) and
//	            factor (how many times faster than sustainable the budget
//	            burns). Default: 1h/5m at 14.4 and 6h/30m at 6, as in the
//	            Google SRE workbook.
//
// journeys[].hops — cdn, edge, api, db, external, queue, internal and
// margin, each ms >= 0. They need p95_ms, and their sum must not exceed it:
// "p95 300 ms: cdn 30, edge 40, api 120, db 80, margin 30".
//
// # hop_rules (list)
//
// Which services are which hop, where the semantic conventions cannot tell
// (a CDN or edge proxy looks like any HTTP server); the first match wins.
// Spans of other services are classed by their attributes (db.system:
// db, messaging.system: queue, client calls to third parties: external).
//
//	service  pattern on service.name, * matching any run of characters.
//	hop      cdn, edge, api, db, external, queue or internal.
//
// # detections
//
// Thresholds of the trace collector's detectors.
//
//	window                              length of trace aggregation windows (default 1m).
//	exemplars                           trace ids a detection carries (default 5).
//	n_plus_one.min_similar_spans        similar DB spans under one parent that make an
//	                                    N+1 (default 5, at least 2).
//	serial_calls.min_calls              sibling client calls one after another that make
//	                                    a serial chain (default 3, at least 2).
//	serial_calls.max_gap_ms             most idle time between two calls of a serial
//	                                    run (default 5); a longer gap suggests the
//	                                    parent used the previous answer.
//	sync_third_party.hosts              hosts or domains that are third parties;
//	                                    "stripe.com" covers api.stripe.com ("*.x.com"
//	                                    and ".x.com" read as "x.com").
//	sync_third_party.any_external_host  also treat every external host as a third party
//	                                    (default true). Internal are hosts under
//	                                    internal_domains or localhost, local, internal,
//	                                    svc, cluster.local and localdomain; single-label
//	                                    names; loopback and private addresses.
//	sync_third_party.internal_domains   domains that are never third parties.
//	sync_third_party.min_ms             least time a call must add to the critical
//	                                    path to be reported (default 1).
//	slow_queries.top_n                  statements reported per window, by total time
//	                                    (default 10).
//	slow_queries.min_total_ms           least total time per window to report a
//	                                    statement (default 100).
//
// # security
//
//	no_new_critical              fail on a critical finding not on the base branch
//	                             (default true).
//	critical_max_age             longest a critical finding may stay open (default
//	                             7d; 0 turns the gate off).
//	high_max_age                 the same for high findings (default 30d).
//	kev_max_age                  the same for vulnerabilities on CISA KEV (default 48h).
//	secrets_allowed              secrets a scan may find before failing (default 0).
//	require_sbom                 every artifact needs an SBOM (default false).
//	require_signed               every artifact needs a signature (default false).
//	require_verified             signatures must verify against signers (default
//	                             false; needs signers).
//	require_provenance           every artifact needs SLSA provenance (default false).
//	min_slsa_level               least SLSA v1.0 build level, 0-3 (default 0).
//	signers                      trusted signers: for keyless signing, identity
//	                             (exact) or identity_regexp with issuer or
//	                             issuer_regexp (the OIDC issuer); or key, a
//	                             public key file. Optional artifacts (name
//	                             patterns) and repositories (host/owner/name
//	                             patterns, * matches any run of characters)
//	                             limit what a signer is trusted for; without
//	                             either it is trusted for every artifact. Only
//	                             these signers are trusted: a key sent with a
//	                             submission is recorded, never trusted.
//	deny_licences                SPDX licence ids no component may carry
//	                             (e.g. AGPL-3.0-only); matched ignoring case.
//	require_pinned_dependencies  fail on floating image tags (latest), version
//	                             ranges and missing lock files (default false).
//	catalogues.kev               local CISA KEV JSON file (default: none).
//	catalogues.epss              local EPSS CSV file (default: none).
//
// # scalability
//
//	default   the target of services and tests that targets does not name:
//	          error_rate 0.01, utilisation_ceiling 0.7, min_headroom 0.2.
//	targets   list; keys a target leaves out come from default.
//
// Each target:
//
//	name                 a service or load-test name; required, unique.
//	peak_rps             requests per second the system must sustain (0: none).
//	p95_at_peak_ms       latency budget at peak_rps (0: none).
//	error_rate           failed-request budget at peak, a fraction.
//	utilisation_ceiling  highest CPU/memory utilisation at peak, above 0 and
//	                     at most 1.
//	min_headroom         load above peak_rps, as a fraction of it, that must
//	                     still meet the budgets (0.2: 120 % of peak).
//
// # web_vitals
//
//	default  the budget of pages no pattern matches: lcp_ms 2500, inp_ms 200,
//	         tbt_ms 200, cls 0.1, ttfb_ms 800, min_performance_score 90.
//	pages    list; url is a pattern where * matches anything (the first
//	         match wins); other keys default to the default budget.
//
// Budget keys: lcp_ms (largest contentful paint), inp_ms (interaction to
// next paint), tbt_ms (total blocking time, the lab stand-in for INP), cls
// (cumulative layout shift, unitless), ttfb_ms (time to first byte) and
// min_performance_score (Lighthouse performance score, 0-100).
//
// # regression
//
//	test           mann-whitney, t-test or percentile-band (default mann-whitney).
//	min_samples    fewest baseline values a verdict needs (default 5, at least 2).
//	baseline_runs  recent successful base-branch runs in a baseline (default 10;
//	               at least min_samples).
//	threshold      relative change that counts as a regression (default 0.1 = 10 %).
//	confidence     confidence of the statistical test, between 0 and 1 (default 0.95).
//	base_branch    the branch baselines come from (default main).
//
// # owners
//
//	codeowners    a GitHub CODEOWNERS file for paths no rule matches; its first
//	              owner on a line, without "@", is the owner.
//	default_team  the owner of anything else.
//	rules         list of {team, paths, services, journeys}: the team owns the
//	              paths (CODEOWNERS patterns), services and journeys listed.
//	              As in CODEOWNERS, the last matching rule wins.
//	teams         list of {name, slack_webhook, webhook, alertmanager, tenants,
//	              github_assignee, jira_assignee}:
//	              where the alerter sends a team's alerts (http or https URLs),
//	              for the verdicts of the tenants listed (every tenant when
//	              tenants is empty; list them on a shared Trilens, so another
//	              tenant's service of the same name never pages the team).
//	              github_assignee (a login) and jira_assignee (a Jira Cloud
//	              account id, or a Data Center user name) get the tracker
//	              issues of the team's gaps (see issue_trackers).
//
// Precedence: a service's or journey's own owner key, then rules, then
// (for a journey) its service's owner, then default_team. For a path:
// rules, then CODEOWNERS, then default_team. When teams are listed, every
// owner a service, journey or rule names must be one of them.
//
// # waivers (list)
//
//	id                    required, unique.
//	fingerprint           the finding waived; or
//	kpi                   the KPI waived (exactly one of the two), with
//	scope                 the service, journey or artifact it is waived for
//	                      (empty: every scope).
//	owner                 required: who answers for the waiver.
//	reason                required.
//	compensating_control  what limits the risk meanwhile.
//	expires               required: a date (2026-12-31, which holds through
//	                      that day, UTC) or an RFC 3339 time. A past date is
//	                      valid but listed by Warnings: the waived findings
//	                      count again.
//
// # issue_trackers (list)
//
// The trackers target (trilens up -target=trackers) opens one issue per
// blocking gap in GitHub Issues or Jira, updates it when the gap changes,
// closes it when the gap is fixed and reopens it on regression. Closing
// an issue as won't fix in the tracker (GitHub: closed as not planned;
// Jira: resolution Won't Fix or Won't Do) proposes a waiver, pending until
// an admin accepts it (POST /v1/waivers with its id); a pending waiver
// changes no gate. The tracker's address and token are the service's
// configuration (-trackers.github-url, TRILENS_GITHUB_TOKEN, ...).
//
//	tracker      required: github or jira.
//	tenant       the tenant whose gaps the rule covers (default: tenant).
//	lenses       performance, security, scalability (empty: all).
//	severities   critical, high, medium, low: findings of these scanner
//	             severities only (empty: all); KPI and verdict gaps pass.
//	repository   github: owner/name of the repository the issues go to.
//	project      jira: the project key, e.g. SHOP.
//	issue_type   jira: the issue type (default Bug).
//	labels       labels every issue carries.
//
// The assignee is the github_assignee or jira_assignee of the team that
// owns the gap (owners.teams).
//
// # severity
//
// Weights of severity = likelihood × blast radius × cost of delay, which
// ranks findings.
//
//	likelihood.kev           likelihood of a vulnerability on CISA KEV (default 1).
//	likelihood.epss          multiplier of the EPSS probability (default 1).
//	likelihood.cvss          multiplier of CVSS base score / 10, used without
//	                         EPSS (default 0.5).
//	likelihood.traffic       multiplier of the share of traffic a performance
//	                         finding affects (default 1).
//	likelihood.floor         likelihood of any other finding (default 0.05).
//	                         A finding's likelihood is the largest term that
//	                         applies; all are fractions 0-1.
//	blast_radius.tier_1      weight of a tier 1 journey or service (default 3).
//	blast_radius.tier_2      weight of tier 2 (default 2).
//	blast_radius.tier_3      weight of tier 3 (default 1).
//	blast_radius.internet    weight of internet exposure (default 1.5).
//	blast_radius.internal    weight of internal exposure (default 1).
//	cost_of_delay.degradation     share of revenue at risk when a finding
//	                              states none, 0-1 (default 0.1).
//	cost_of_delay.min_days        days a finding counts as open at least (default 1).
//	cost_of_delay.revenue_per_hour  revenue of scopes without their own (default 0).
//
// Cost of delay = revenue per hour × 24 × degradation × days open.
package policy

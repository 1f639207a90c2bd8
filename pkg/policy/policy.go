package policy

import (
	"slices"
	"time"
)

// Policy is a decoded trilens.yaml. Field tags name the YAML keys; doc.go
// describes every key for users. Build one with Load, Parse or Default.
// Lookups do not modify it, so goroutines may share one.
type Policy struct {
	Version     int         `yaml:"version"`
	Tenant      string      `yaml:"tenant"`
	Currency    string      `yaml:"currency"`
	Services    []Service   `yaml:"services"`
	Journeys    []Journey   `yaml:"journeys"`
	HopRules    []HopRule   `yaml:"hop_rules"`
	Detections  Detections  `yaml:"detections"`
	Security    Security    `yaml:"security"`
	Scalability Scalability `yaml:"scalability"`
	WebVitals   WebVitals   `yaml:"web_vitals"`
	Regression  Regression  `yaml:"regression"`
	Owners      Owners      `yaml:"owners"`
	Waivers     []Waiver    `yaml:"waivers"`
	Severity    Severity    `yaml:"severity"`
	// IssueTrackers are the rules of the tracker sync: which blocking gaps
	// become issues, where.
	IssueTrackers []IssueTracker `yaml:"issue_trackers"`

	// src remembers where each key came from, so validation errors can name
	// the line; nil for policies built in code.
	src *source
	// codeowners holds the rules of owners.codeowners once Load has read it.
	codeowners []ownerRule
}

// Exposure says who can reach a service.
const (
	ExposureInternet = "internet"
	ExposureInternal = "internal"
)

// Service is a deployable unit that evidence can be attributed to.
type Service struct {
	Name           string  `yaml:"name"`
	Repository     string  `yaml:"repository"`
	Owner          string  `yaml:"owner"`
	Tier           int     `yaml:"tier"`
	Exposure       string  `yaml:"exposure"`
	RevenuePerHour float64 `yaml:"revenue_per_hour"`
}

func (s *Service) setDefaults() {
	s.Tier = 3
	s.Exposure = ExposureInternal
}

// Journey is a user-facing flow with latency and error budgets.
type Journey struct {
	Name           string  `yaml:"name"`
	Service        string  `yaml:"service"`
	Owner          string  `yaml:"owner"`
	Tier           int     `yaml:"tier"`
	RevenuePerHour float64 `yaml:"revenue_per_hour"`
	Match          []Match `yaml:"match"`
	// P95Ms and P99Ms are latency budgets in milliseconds; 0 means none.
	P95Ms float64 `yaml:"p95_ms"`
	P99Ms float64 `yaml:"p99_ms"`
	// ErrorRate is the budget for failed requests, a fraction (0.01 = 1 %); 0 means none.
	ErrorRate float64 `yaml:"error_rate"`
	SLO       *SLO    `yaml:"slo"`
	Hops      *Hops   `yaml:"hops"`
}

// Match assigns traces to a journey. Every condition that is set must hold.
// Service, RootSpan and HTTPRoute are patterns where * matches any run of
// characters. The entry of a trace is its first server span with an
// http.route (CDN and edge roots seldom have one), else its root.
type Match struct {
	// Service is the service.name of the trace's entry span.
	Service string `yaml:"service"`
	// RootSpan is the name of the trace's root span.
	RootSpan string `yaml:"root_span"`
	// HTTPRoute is the entry span's http.route.
	HTTPRoute string `yaml:"http_route"`
	// Attributes are root span attributes that must equal the given values.
	Attributes map[string]string `yaml:"attributes"`
}

// Hop classes, the keys of Hops and the values of HopRule.Hop.
var hopClasses = []string{"cdn", "edge", "api", "db", "external", "queue", "internal"}

// HopRule puts the spans of services matching Service (a pattern where *
// matches any run of characters) in a hop class: the semantic conventions
// cannot tell a CDN or an edge proxy from any other HTTP server.
type HopRule struct {
	Service string `yaml:"service"`
	Hop     string `yaml:"hop"`
}

// SLO is an availability objective with multi-window burn-rate alerts.
type SLO struct {
	// Objective is the percentage of good requests, e.g. 99.9.
	Objective float64       `yaml:"objective"`
	Window    time.Duration `yaml:"window"`
	BurnRates []BurnRate    `yaml:"burn_rates"`
}

func (s *SLO) setDefaults() {
	s.Objective = 99.9
	s.Window = 30 * day
	// The two pages of the Google SRE workbook's multiwindow alerts.
	s.BurnRates = []BurnRate{
		{Window: time.Hour, ShortWindow: 5 * time.Minute, Factor: 14.4},
		{Window: 6 * time.Hour, ShortWindow: 30 * time.Minute, Factor: 6},
	}
}

// BurnRate alerts when the error budget burns Factor times faster than the
// SLO allows over both Window and ShortWindow.
type BurnRate struct {
	Window      time.Duration `yaml:"window"`
	ShortWindow time.Duration `yaml:"short_window"`
	Factor      float64       `yaml:"factor"`
}

// Hops splits a journey's p95 budget by where the time is spent, in
// milliseconds. Margin is the unallocated remainder.
type Hops struct {
	CDN      float64 `yaml:"cdn"`
	Edge     float64 `yaml:"edge"`
	API      float64 `yaml:"api"`
	DB       float64 `yaml:"db"`
	External float64 `yaml:"external"`
	Queue    float64 `yaml:"queue"`
	Internal float64 `yaml:"internal"`
	Margin   float64 `yaml:"margin"`
}

// Budget returns the budget of a hop class by its name (cdn, edge, api, db,
// external, queue, internal) and whether the policy sets one.
func (h *Hops) Budget(hop string) (float64, bool) {
	if h == nil {
		return 0, false
	}
	for _, b := range h.list() {
		if b.name == hop && hop != "margin" {
			return b.ms, b.ms > 0
		}
	}
	return 0, false
}

type hopBudget struct {
	name string
	ms   float64
}

func (h *Hops) list() []hopBudget {
	return []hopBudget{
		{"cdn", h.CDN}, {"edge", h.Edge}, {"api", h.API}, {"db", h.DB},
		{"external", h.External}, {"queue", h.Queue}, {"internal", h.Internal}, {"margin", h.Margin},
	}
}

// Detections are the thresholds of the trace anti-pattern detectors.
type Detections struct {
	// Window is the length of the aggregation windows of trace data.
	Window time.Duration `yaml:"window"`
	// Exemplars is how many trace ids a detection carries.
	Exemplars      int            `yaml:"exemplars"`
	NPlusOne       NPlusOne       `yaml:"n_plus_one"`
	SerialCalls    SerialCalls    `yaml:"serial_calls"`
	SyncThirdParty SyncThirdParty `yaml:"sync_third_party"`
	SlowQueries    SlowQueries    `yaml:"slow_queries"`
}

// NPlusOne flags a parent span with many similar database spans.
type NPlusOne struct {
	MinSimilarSpans int `yaml:"min_similar_spans"`
}

// SerialCalls flags sibling client calls made one after another that could
// run concurrently.
type SerialCalls struct {
	MinCalls int `yaml:"min_calls"`
	// MaxGapMs is the most idle time between two calls of a serial run: a
	// longer gap suggests the parent worked on the previous answer, so the
	// calls may depend on each other.
	MaxGapMs float64 `yaml:"max_gap_ms"`
}

// SyncThirdParty flags third-party calls made while a user request waits.
type SyncThirdParty struct {
	// Hosts are the third-party hosts or domains ("stripe.com" covers
	// "api.stripe.com").
	Hosts []string `yaml:"hosts"`
	// AnyExternalHost treats every host that is not internal as third party.
	AnyExternalHost bool     `yaml:"any_external_host"`
	InternalDomains []string `yaml:"internal_domains"`
	// MinMs is the least time a call must add to the critical path to be reported.
	MinMs float64 `yaml:"min_ms"`
}

// SlowQueries reports the statements with the most total time.
type SlowQueries struct {
	TopN       int     `yaml:"top_n"`
	MinTotalMs float64 `yaml:"min_total_ms"`
}

// Security holds the gates of the security lens.
type Security struct {
	NoNewCritical bool `yaml:"no_new_critical"`
	// Max ages of open findings; 0 turns the gate off.
	CriticalMaxAge time.Duration `yaml:"critical_max_age"`
	HighMaxAge     time.Duration `yaml:"high_max_age"`
	KEVMaxAge      time.Duration `yaml:"kev_max_age"`
	SecretsAllowed int           `yaml:"secrets_allowed"`
	RequireSBOM    bool          `yaml:"require_sbom"`
	RequireSigned  bool          `yaml:"require_signed"`
	// RequireVerified demands a signature that verifies against Signers.
	RequireVerified   bool     `yaml:"require_verified"`
	RequireProvenance bool     `yaml:"require_provenance"`
	MinSLSALevel      int      `yaml:"min_slsa_level"`
	Signers           []Signer `yaml:"signers"`
	// DenyLicences are SPDX licence ids no component may carry.
	DenyLicences              []string   `yaml:"deny_licences"`
	RequirePinnedDependencies bool       `yaml:"require_pinned_dependencies"`
	Catalogues                Catalogues `yaml:"catalogues"`
}

// Signer is an identity trusted to sign artifacts: a keyless (Fulcio)
// certificate identity and OIDC issuer, each exact or a regular
// expression, or a public key file. Artifacts and Repositories limit what
// the signer is trusted for; a signer with neither is trusted for all.
type Signer struct {
	Identity       string `yaml:"identity"`
	IdentityRegexp string `yaml:"identity_regexp"`
	Issuer         string `yaml:"issuer"`
	IssuerRegexp   string `yaml:"issuer_regexp"`
	Key            string `yaml:"key"`
	// Artifacts are artifact names (patterns where * matches any run of
	// characters) the signer may sign.
	Artifacts []string `yaml:"artifacts"`
	// Repositories are source repositories (host/owner/name patterns, such
	// as github.com/acme/*) whose artifacts the signer may sign.
	Repositories []string `yaml:"repositories"`
}

// Catalogues are local copies of vulnerability catalogues; empty means the
// collectors use what the scanners report.
type Catalogues struct {
	KEV  string `yaml:"kev"`
	EPSS string `yaml:"epss"`
}

// Scalability holds load-test targets; Default applies where no target names
// the service or test.
type Scalability struct {
	Default ScalabilityTarget   `yaml:"default"`
	Targets []ScalabilityTarget `yaml:"targets"`
}

// ScalabilityTarget is what a service or load test must sustain.
type ScalabilityTarget struct {
	// Name is a service name or a load test name.
	Name        string  `yaml:"name"`
	PeakRPS     float64 `yaml:"peak_rps"`
	P95AtPeakMs float64 `yaml:"p95_at_peak_ms"`
	ErrorRate   float64 `yaml:"error_rate"`
	// UtilisationCeiling is the highest CPU/memory utilisation allowed at peak (0-1].
	UtilisationCeiling float64 `yaml:"utilisation_ceiling"`
	// MinHeadroom is the load above PeakRPS, as a fraction of it, that must
	// still meet the budgets (0.2 = 120 % of peak).
	MinHeadroom float64 `yaml:"min_headroom"`
}

// WebVitals holds page budgets; Default applies where no page pattern matches.
type WebVitals struct {
	Default PageBudget   `yaml:"default"`
	Pages   []PageBudget `yaml:"pages"`
}

// PageBudget is the web-vitals budget of the pages whose URL matches URL.
type PageBudget struct {
	// URL is a pattern where * matches any run of characters.
	URL    string  `yaml:"url"`
	LCPMs  float64 `yaml:"lcp_ms"`
	INPMs  float64 `yaml:"inp_ms"`
	TBTMs  float64 `yaml:"tbt_ms"`
	CLS    float64 `yaml:"cls"`
	TTFBMs float64 `yaml:"ttfb_ms"`
	// MinPerformanceScore is the lowest Lighthouse performance score, 0-100.
	MinPerformanceScore float64 `yaml:"min_performance_score"`
}

// Regression tests that decide whether a value is worse than its baseline.
const (
	TestMannWhitney    = "mann-whitney"
	TestTTest          = "t-test"
	TestPercentileBand = "percentile-band"
)

// Regression configures how values are compared with their baselines.
type Regression struct {
	Test string `yaml:"test"`
	// MinSamples is the fewest baseline values a verdict needs.
	MinSamples int `yaml:"min_samples"`
	// BaselineRuns is how many recent successful runs form the baseline.
	BaselineRuns int `yaml:"baseline_runs"`
	// Threshold is the relative change that counts as a regression (0.1 = 10 % worse).
	Threshold  float64 `yaml:"threshold"`
	Confidence float64 `yaml:"confidence"`
	BaseBranch string  `yaml:"base_branch"`
}

// Owners maps paths, services and journeys to teams, and teams to the
// routes alerts take.
type Owners struct {
	// Codeowners is a CODEOWNERS file consulted for paths no rule matches.
	Codeowners  string      `yaml:"codeowners"`
	DefaultTeam string      `yaml:"default_team"`
	Rules       []OwnerRule `yaml:"rules"`
	Teams       []Team      `yaml:"teams"`
}

// OwnerRule gives what it lists to Team. Paths use CODEOWNERS patterns.
type OwnerRule struct {
	Team     string   `yaml:"team"`
	Paths    []string `yaml:"paths"`
	Services []string `yaml:"services"`
	Journeys []string `yaml:"journeys"`
}

// Team is an owner and where its alerts go.
type Team struct {
	Name         string `yaml:"name"`
	SlackWebhook string `yaml:"slack_webhook"`
	Webhook      string `yaml:"webhook"`
	Alertmanager string `yaml:"alertmanager"`
	// Tenants whose verdicts reach this team's receivers; empty means every
	// tenant (a single-company install). On a shared Trilens, list them, so
	// another tenant's service of the same name never pages this team.
	Tenants []string `yaml:"tenants"`
	// GitHubAssignee and JiraAssignee are the tracker users the issues of
	// the team's gaps are assigned to (a GitHub login; a Jira Cloud account
	// id or a Data Center user name).
	GitHubAssignee string `yaml:"github_assignee"`
	JiraAssignee   string `yaml:"jira_assignee"`
}

// Serves says whether the team takes verdicts of tenant.
func (t Team) Serves(tenant string) bool {
	return len(t.Tenants) == 0 || slices.Contains(t.Tenants, tenant)
}

// Waiver accepts a finding (by fingerprint) or a KPI breach (by KPI and
// scope) until it expires.
type Waiver struct {
	ID          string `yaml:"id"`
	Fingerprint string `yaml:"fingerprint"`
	KPI         string `yaml:"kpi"`
	// Scope limits a KPI waiver to one service, journey or artifact; empty
	// means every scope.
	Scope               string `yaml:"scope"`
	Owner               string `yaml:"owner"`
	Reason              string `yaml:"reason"`
	CompensatingControl string `yaml:"compensating_control"`
	// Expires is the first instant the waiver no longer applies.
	Expires time.Time `yaml:"expires"`
}

// Issue tracker kinds.
const (
	TrackerGitHub = "github"
	TrackerJira   = "jira"
)

// IssueTracker is one rule of the tracker sync: the tenant's blocking gaps
// of Lenses (and, for findings, Severities) become one issue each in a
// GitHub repository or a Jira project. Where the tracker lives and its
// token are the service's configuration, not the policy's: a pull request
// that edits the policy must not send tokens to another host.
type IssueTracker struct {
	// Tracker is github or jira.
	Tracker string `yaml:"tracker"`
	// Tenant whose gaps the rule covers; empty means the policy's tenant.
	Tenant string `yaml:"tenant"`
	// Lenses and Severities select gaps; empty selects all. Severities
	// (critical, high, medium, low) apply to findings only.
	Lenses     []string `yaml:"lenses"`
	Severities []string `yaml:"severities"`
	// Repository (owner/name) is where GitHub issues go.
	Repository string `yaml:"repository"`
	// Project (a key such as SHOP) and IssueType (default Bug) are where
	// Jira issues go.
	Project   string   `yaml:"project"`
	IssueType string   `yaml:"issue_type"`
	Labels    []string `yaml:"labels"`
}

// Severity holds the weights of severity = likelihood × blast radius × cost
// of delay.
type Severity struct {
	Likelihood  Likelihood  `yaml:"likelihood"`
	BlastRadius BlastRadius `yaml:"blast_radius"`
	CostOfDelay CostOfDelay `yaml:"cost_of_delay"`
}

// Likelihood weights: a finding's likelihood is the largest of the terms
// that apply to it, in [0, 1].
type Likelihood struct {
	// KEV is the likelihood of a vulnerability on the CISA KEV list.
	KEV float64 `yaml:"kev"`
	// EPSS multiplies the EPSS probability.
	EPSS float64 `yaml:"epss"`
	// CVSS multiplies the CVSS base score / 10, used without EPSS.
	CVSS float64 `yaml:"cvss"`
	// Traffic multiplies the share of traffic affected (performance findings).
	Traffic float64 `yaml:"traffic"`
	// Floor is the likelihood of a finding with none of the above.
	Floor float64 `yaml:"floor"`
}

// BlastRadius weights: tier weight × exposure weight.
type BlastRadius struct {
	Tier1    float64 `yaml:"tier_1"`
	Tier2    float64 `yaml:"tier_2"`
	Tier3    float64 `yaml:"tier_3"`
	Internet float64 `yaml:"internet"`
	Internal float64 `yaml:"internal"`
}

// Tier returns the weight of a tier (1-3); other tiers weigh as tier 3.
func (b BlastRadius) Tier(tier int) float64 {
	switch tier {
	case 1:
		return b.Tier1
	case 2:
		return b.Tier2
	}
	return b.Tier3
}

// Exposure returns the weight of an exposure.
func (b BlastRadius) Exposure(exposure string) float64 {
	if exposure == ExposureInternet {
		return b.Internet
	}
	return b.Internal
}

// CostOfDelay: revenue per hour × 24 × degradation × days open.
type CostOfDelay struct {
	// Degradation is the share of revenue at risk when a finding does not
	// state its own (0-1).
	Degradation float64 `yaml:"degradation"`
	// MinDays counts a finding as open at least this many days, so new
	// findings do not cost nothing.
	MinDays float64 `yaml:"min_days"`
	// RevenuePerHour is used for scopes without a revenue of their own.
	RevenuePerHour float64 `yaml:"revenue_per_hour"`
}

// Default returns the policy used when there is no file: no services or
// journeys, and the default thresholds, gates and weights listed in doc.go.
func Default() *Policy {
	return &Policy{
		Version:  1,
		Tenant:   "default",
		Currency: "USD",
		Detections: Detections{
			Window:         time.Minute,
			Exemplars:      5,
			NPlusOne:       NPlusOne{MinSimilarSpans: 5},
			SerialCalls:    SerialCalls{MinCalls: 3, MaxGapMs: 5},
			SyncThirdParty: SyncThirdParty{AnyExternalHost: true, MinMs: 1},
			SlowQueries:    SlowQueries{TopN: 10, MinTotalMs: 100},
		},
		Security: Security{
			NoNewCritical:  true,
			CriticalMaxAge: 7 * day,
			HighMaxAge:     30 * day,
			KEVMaxAge:      48 * time.Hour,
		},
		Scalability: Scalability{
			Default: ScalabilityTarget{ErrorRate: 0.01, UtilisationCeiling: 0.7, MinHeadroom: 0.2},
		},
		WebVitals: WebVitals{
			// Google's "good" thresholds; TBT and score as Lighthouse rates them.
			Default: PageBudget{LCPMs: 2500, INPMs: 200, TBTMs: 200, CLS: 0.1, TTFBMs: 800, MinPerformanceScore: 90},
		},
		Regression: Regression{
			Test:         TestMannWhitney,
			MinSamples:   5,
			BaselineRuns: 10,
			Threshold:    0.1,
			Confidence:   0.95,
			BaseBranch:   "main",
		},
		Severity: Severity{
			Likelihood:  Likelihood{KEV: 1, EPSS: 1, CVSS: 0.5, Traffic: 1, Floor: 0.05},
			BlastRadius: BlastRadius{Tier1: 3, Tier2: 2, Tier3: 1, Internet: 1.5, Internal: 1},
			CostOfDelay: CostOfDelay{Degradation: 0.1, MinDays: 1},
		},
	}
}

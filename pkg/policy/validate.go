package policy

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/trilens/trilens/pkg/events"
)

// Validate checks the whole policy and returns every problem at once
// (errors.Join of *Diagnostic), each naming its key path and, for a
// policy read from a file, the line.
func (p *Policy) Validate() error {
	if list := p.validate(); len(list) > 0 {
		return join(list)
	}
	return nil
}

// checker adds the usual value checks to a diagnostics list.
type checker struct {
	d *diagnostics
	p *Policy
	// only, when set, drops problems of the paths it rejects.
	only func(path string) bool
}

func (c *checker) addf(path, format string, args ...any) {
	if c.only == nil || c.only(path) {
		c.d.addf(path, format, args...)
	}
}

func (p *Policy) validate() []*Diagnostic {
	c := &checker{d: &diagnostics{src: p.src}, p: p}
	if p.Version != 1 {
		c.addf("version", "want 1, got %d", p.Version)
	}
	if err := events.ValidateTenant(p.Tenant); err != nil {
		c.addf("tenant", "want 1-63 characters of a-z, 0-9, '_' or '-', starting with a letter or digit, got %q", p.Tenant)
	}
	if !currencyRE.MatchString(p.Currency) {
		c.addf("currency", "want an ISO 4217 code such as USD, got %q", p.Currency)
	}
	c.services()
	c.journeys()
	c.hopRules()
	c.detections()
	c.security()
	c.scalability()
	c.webVitals()
	c.regression()
	c.owners()
	c.waivers()
	c.severity()
	c.issueTrackers()
	return c.d.list
}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

func (c *checker) services() {
	seen := map[string]string{}
	for i, s := range c.p.Services {
		at := indexPath("services", i)
		c.name(at, s.Name, seen)
		c.tier(at, s.Tier)
		if s.Exposure != ExposureInternet && s.Exposure != ExposureInternal {
			c.addf(fieldPath(at, "exposure"), "want internet or internal, got %q", s.Exposure)
		}
		c.min(fieldPath(at, "revenue_per_hour"), s.RevenuePerHour, 0)
		c.team(fieldPath(at, "owner"), s.Owner)
	}
}

func (c *checker) journeys() {
	seen := map[string]string{}
	for i, j := range c.p.Journeys {
		at := indexPath("journeys", i)
		c.name(at, j.Name, seen)
		c.service(fieldPath(at, "service"), j.Service)
		c.team(fieldPath(at, "owner"), j.Owner)
		c.tier(at, j.Tier)
		c.min(fieldPath(at, "revenue_per_hour"), j.RevenuePerHour, 0)
		c.min(fieldPath(at, "p95_ms"), j.P95Ms, 0)
		c.min(fieldPath(at, "p99_ms"), j.P99Ms, 0)
		if j.P95Ms > 0 && j.P99Ms > 0 && j.P99Ms < j.P95Ms {
			c.addf(fieldPath(at, "p99_ms"), "%s is below p95_ms %s", ms(j.P99Ms), ms(j.P95Ms))
		}
		c.fraction(fieldPath(at, "error_rate"), j.ErrorRate)
		for k, m := range j.Match {
			if m.Service == "" && m.RootSpan == "" && m.HTTPRoute == "" && len(m.Attributes) == 0 {
				c.addf(indexPath(fieldPath(at, "match"), k), "want at least one of service, root_span, http_route or attributes")
			}
		}
		if j.SLO != nil {
			c.slo(fieldPath(at, "slo"), j.SLO)
		}
		if j.Hops != nil {
			c.hops(at, j)
		}
	}
}

func (c *checker) hopRules() {
	for i, r := range c.p.HopRules {
		at := indexPath("hop_rules", i)
		if r.Service == "" {
			c.addf(fieldPath(at, "service"), "required")
		}
		if !slices.Contains(hopClasses, r.Hop) {
			c.addf(fieldPath(at, "hop"), "want one of %s, got %q", strings.Join(hopClasses, ", "), r.Hop)
		}
	}
}

func (c *checker) slo(at string, s *SLO) {
	if !(s.Objective > 0 && s.Objective < 100) {
		c.addf(fieldPath(at, "objective"), "want a percentage above 0 and below 100, such as 99.9, got %v", s.Objective)
	}
	if s.Window <= 0 {
		c.addf(fieldPath(at, "window"), "want a duration above 0, such as 30d")
	}
	for k, b := range s.BurnRates {
		bat := indexPath(fieldPath(at, "burn_rates"), k)
		switch {
		case b.Window <= 0:
			c.addf(fieldPath(bat, "window"), "want a duration above 0, such as 1h")
		case b.Window > s.Window:
			c.addf(fieldPath(bat, "window"), "%s is longer than the SLO window %s", days(b.Window), days(s.Window))
		case b.ShortWindow >= b.Window:
			c.addf(fieldPath(bat, "short_window"), "%s is not shorter than window %s", days(b.ShortWindow), days(b.Window))
		}
		if b.Factor <= 0 {
			c.addf(fieldPath(bat, "factor"), "want a number above 0, such as 14.4, got %v", b.Factor)
		}
	}
}

// hops checks that the hop budgets and the margin fit in the journey's p95.
func (c *checker) hops(at string, j Journey) {
	hat := fieldPath(at, "hops")
	if j.P95Ms <= 0 {
		c.addf(hat, "hop budgets split p95_ms, which this journey does not set")
		return
	}
	var sum float64
	var terms []string
	fits := true
	for _, h := range j.Hops.list() {
		switch {
		case h.ms < 0:
			c.addf(fieldPath(hat, h.name), "want 0 or more, got %v", h.ms)
			fits = false
		case h.ms > j.P95Ms:
			c.addf(fieldPath(hat, h.name), "%s exceeds the journey's p95_ms %s", ms(h.ms), ms(j.P95Ms))
			fits = false
		case h.ms > 0:
			sum += h.ms
			terms = append(terms, h.name+" "+strconv.FormatFloat(h.ms, 'f', -1, 64))
		}
	}
	if fits && sum > j.P95Ms {
		c.addf(hat, "%s = %s exceeds the journey's p95_ms %s", strings.Join(terms, " + "), ms(sum), ms(j.P95Ms))
	}
}

func (c *checker) detections() {
	d := c.p.Detections
	if d.Window <= 0 {
		c.addf("detections.window", "want a duration above 0, such as 1m")
	}
	c.atLeast("detections.n_plus_one.min_similar_spans", d.NPlusOne.MinSimilarSpans, 2)
	c.atLeast("detections.serial_calls.min_calls", d.SerialCalls.MinCalls, 2)
	c.atLeast("detections.exemplars", d.Exemplars, 0)
	c.min("detections.serial_calls.max_gap_ms", d.SerialCalls.MaxGapMs, 0)
	c.min("detections.sync_third_party.min_ms", d.SyncThirdParty.MinMs, 0)
	for k, h := range d.SyncThirdParty.Hosts {
		c.host(indexPath("detections.sync_third_party.hosts", k), h)
	}
	for k, h := range d.SyncThirdParty.InternalDomains {
		c.host(indexPath("detections.sync_third_party.internal_domains", k), h)
	}
	c.atLeast("detections.slow_queries.top_n", d.SlowQueries.TopN, 1)
	c.min("detections.slow_queries.min_total_ms", d.SlowQueries.MinTotalMs, 0)
}

var hostRE = regexp.MustCompile(`^(\*\.|\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

func (c *checker) host(at, h string) {
	if !hostRE.MatchString(h) {
		c.addf(at, "want a host or domain such as api.stripe.com or stripe.com, got %q", h)
	}
}

func (c *checker) security() {
	s := c.p.Security
	c.atLeast("security.secrets_allowed", s.SecretsAllowed, 0)
	if s.MinSLSALevel < 0 || s.MinSLSALevel > 3 {
		c.addf("security.min_slsa_level", "want 0 to 3 (SLSA v1.0 build levels), got %d", s.MinSLSALevel)
	}
	if s.RequireVerified && len(s.Signers) == 0 {
		c.addf("security.require_verified", "verification needs at least one entry in security.signers")
	}
	for k, sg := range s.Signers {
		at := indexPath("security.signers", k)
		n := 0
		for _, f := range []string{sg.Identity, sg.IdentityRegexp, sg.Key} {
			if f != "" {
				n++
			}
		}
		issuers := 0
		for _, f := range []string{sg.Issuer, sg.IssuerRegexp} {
			if f != "" {
				issuers++
			}
		}
		switch {
		case n != 1:
			c.addf(at, "want exactly one of identity, identity_regexp or key")
		case sg.Key != "" && issuers > 0:
			c.addf(at, "a key signer has no issuer")
		case sg.Key == "" && issuers == 0:
			c.addf(fieldPath(at, "issuer"), "keyless signers need the OIDC issuer (issuer or issuer_regexp), such as https://token.actions.githubusercontent.com")
		case issuers > 1:
			c.addf(fieldPath(at, "issuer_regexp"), "want issuer or issuer_regexp, not both")
		}
		for _, f := range []struct{ key, val string }{{"identity_regexp", sg.IdentityRegexp}, {"issuer_regexp", sg.IssuerRegexp}} {
			if _, err := regexp.Compile(f.val); err != nil {
				c.addf(fieldPath(at, f.key), "%v", err)
			}
		}
		for j, a := range sg.Artifacts {
			if strings.TrimSpace(a) == "" {
				c.addf(indexPath(fieldPath(at, "artifacts"), j), "want an artifact name or pattern, got an empty string")
			}
		}
		for j, r := range sg.Repositories {
			if strings.Contains(r, "://") || strings.TrimSpace(r) == "" {
				c.addf(indexPath(fieldPath(at, "repositories"), j), "want host/owner/name or a pattern such as github.com/acme/*, got %q", r)
			}
		}
	}
	for k, l := range s.DenyLicences {
		if !spdxRE.MatchString(l) {
			c.addf(indexPath("security.deny_licences", k), "want an SPDX licence id such as GPL-3.0-only, got %q", l)
		}
	}
}

// spdxRE is loose on purpose: ids and LicenseRef- names, no expressions.
var spdxRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+-]*$`)

func (c *checker) scalability() {
	s := c.p.Scalability
	if s.Default.Name != "" {
		c.addf("scalability.default.name", "the default target has no name")
	}
	c.target("scalability.default", s.Default, false)
	seen := map[string]string{}
	for i, t := range s.Targets {
		at := indexPath("scalability.targets", i)
		c.name(at, t.Name, seen)
		c.target(at, t, true)
	}
}

// target checks a scalability target. Values an element inherited from
// the default were checked there, so are not reported again.
func (c *checker) target(at string, t ScalabilityTarget, inherits bool) {
	chk := c.checkerFor(inherits)
	chk.min(fieldPath(at, "peak_rps"), t.PeakRPS, 0)
	chk.min(fieldPath(at, "p95_at_peak_ms"), t.P95AtPeakMs, 0)
	chk.fraction(fieldPath(at, "error_rate"), t.ErrorRate)
	if !(t.UtilisationCeiling > 0 && t.UtilisationCeiling <= 1) {
		chk.addf(fieldPath(at, "utilisation_ceiling"), "want a fraction above 0 and at most 1, such as 0.7, got %v", t.UtilisationCeiling)
	}
	chk.min(fieldPath(at, "min_headroom"), t.MinHeadroom, 0)
}

func (c *checker) webVitals() {
	w := c.p.WebVitals
	if w.Default.URL != "" {
		c.addf("web_vitals.default.url", "the default budget has no url")
	}
	c.page("web_vitals.default", w.Default, false)
	seen := map[string]int{}
	for i, b := range w.Pages {
		at := indexPath("web_vitals.pages", i)
		if b.URL == "" {
			c.addf(fieldPath(at, "url"), "required")
		} else if j, dup := seen[b.URL]; dup {
			c.addf(fieldPath(at, "url"), "%q is already web_vitals.pages[%d]", b.URL, j)
		} else {
			seen[b.URL] = i
		}
		c.page(at, b, true)
	}
}

// page checks a page budget; see target for inherits.
func (c *checker) page(at string, b PageBudget, inherits bool) {
	chk := c.checkerFor(inherits)
	chk.min(fieldPath(at, "lcp_ms"), b.LCPMs, 0)
	chk.min(fieldPath(at, "inp_ms"), b.INPMs, 0)
	chk.min(fieldPath(at, "tbt_ms"), b.TBTMs, 0)
	chk.min(fieldPath(at, "cls"), b.CLS, 0)
	chk.min(fieldPath(at, "ttfb_ms"), b.TTFBMs, 0)
	if b.MinPerformanceScore < 0 || b.MinPerformanceScore > 100 {
		chk.addf(fieldPath(at, "min_performance_score"), "want 0 to 100, got %v", b.MinPerformanceScore)
	}
}

func (c *checker) regression() {
	r := c.p.Regression
	switch r.Test {
	case TestMannWhitney, TestTTest, TestPercentileBand:
	default:
		c.addf("regression.test", "want %s, %s or %s, got %q", TestMannWhitney, TestTTest, TestPercentileBand, r.Test)
	}
	c.atLeast("regression.min_samples", r.MinSamples, 2)
	if r.BaselineRuns < r.MinSamples {
		c.addf("regression.baseline_runs", "want at least min_samples (%d), got %d", r.MinSamples, r.BaselineRuns)
	}
	c.min("regression.threshold", r.Threshold, 0)
	if !(r.Confidence > 0 && r.Confidence < 1) {
		c.addf("regression.confidence", "want a probability above 0 and below 1, such as 0.95, got %v", r.Confidence)
	}
	if r.BaseBranch == "" {
		c.addf("regression.base_branch", "required")
	}
}

func (c *checker) owners() {
	o := c.p.Owners
	c.team("owners.default_team", o.DefaultTeam)
	for i, r := range o.Rules {
		at := indexPath("owners.rules", i)
		if r.Team == "" {
			c.addf(fieldPath(at, "team"), "required")
		}
		c.team(fieldPath(at, "team"), r.Team)
		if len(r.Paths)+len(r.Services)+len(r.Journeys) == 0 {
			c.addf(at, "want at least one of paths, services or journeys")
		}
		for k, pat := range r.Paths {
			if err := checkPattern(pat); err != nil {
				c.addf(indexPath(fieldPath(at, "paths"), k), "%v", err)
			}
		}
		for k, s := range r.Services {
			c.service(indexPath(fieldPath(at, "services"), k), s)
		}
		for k, j := range r.Journeys {
			if _, ok := c.p.Journey(j); !ok {
				c.addf(indexPath(fieldPath(at, "journeys"), k), "unknown journey %q", j)
			}
		}
	}
	seen := map[string]string{}
	for i, t := range o.Teams {
		at := indexPath("owners.teams", i)
		c.name(at, t.Name, seen)
		c.url(fieldPath(at, "slack_webhook"), t.SlackWebhook)
		c.url(fieldPath(at, "webhook"), t.Webhook)
		c.url(fieldPath(at, "alertmanager"), t.Alertmanager)
	}
}

func (c *checker) url(at, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.addf(at, "want an http or https URL, got %q", s)
	}
}

func (c *checker) waivers() {
	seen := map[string]int{}
	for i, w := range c.p.Waivers {
		at := indexPath("waivers", i)
		if w.ID == "" {
			c.addf(fieldPath(at, "id"), "required")
		} else if j, dup := seen[w.ID]; dup {
			c.addf(fieldPath(at, "id"), "%q is already waivers[%d]", w.ID, j)
		} else {
			seen[w.ID] = i
		}
		if (w.Fingerprint == "") == (w.KPI == "") {
			c.addf(at, "want either fingerprint or kpi")
		}
		for _, f := range []struct{ key, val string }{{"owner", w.Owner}, {"reason", w.Reason}} {
			if strings.TrimSpace(f.val) == "" {
				c.addf(fieldPath(at, f.key), "required")
			}
		}
		if w.Expires.IsZero() {
			c.addf(fieldPath(at, "expires"), "required: a waiver without an end is a silent exception")
		}
	}
}

func (c *checker) severity() {
	s := c.p.Severity
	for _, f := range []struct {
		key string
		v   float64
	}{
		{"likelihood.kev", s.Likelihood.KEV}, {"likelihood.epss", s.Likelihood.EPSS},
		{"likelihood.cvss", s.Likelihood.CVSS}, {"likelihood.traffic", s.Likelihood.Traffic},
		{"likelihood.floor", s.Likelihood.Floor}, {"cost_of_delay.degradation", s.CostOfDelay.Degradation},
	} {
		c.fraction("severity."+f.key, f.v)
	}
	for _, f := range []struct {
		key string
		v   float64
	}{
		{"blast_radius.tier_1", s.BlastRadius.Tier1}, {"blast_radius.tier_2", s.BlastRadius.Tier2},
		{"blast_radius.tier_3", s.BlastRadius.Tier3}, {"blast_radius.internet", s.BlastRadius.Internet},
		{"blast_radius.internal", s.BlastRadius.Internal}, {"cost_of_delay.min_days", s.CostOfDelay.MinDays},
		{"cost_of_delay.revenue_per_hour", s.CostOfDelay.RevenuePerHour},
	} {
		c.min("severity."+f.key, f.v, 0)
	}
}

// name checks that a list element has a name not used by an earlier one.
func (c *checker) name(at, name string, seen map[string]string) {
	if name == "" {
		c.addf(fieldPath(at, "name"), "required")
		return
	}
	if first, dup := seen[name]; dup {
		c.addf(fieldPath(at, "name"), "%q is already %s", name, first)
		return
	}
	seen[name] = at
}

func (c *checker) tier(at string, tier int) {
	if tier < 1 || tier > 3 {
		c.addf(fieldPath(at, "tier"), "want 1, 2 or 3, got %d", tier)
	}
}

// team checks that a named owner is one of owners.teams, when teams are listed.
func (c *checker) team(at, name string) {
	if name == "" || len(c.p.Owners.Teams) == 0 {
		return
	}
	if _, ok := c.p.Team(name); !ok {
		c.addf(at, "unknown team %q: owners.teams does not list it", name)
	}
}

// service checks that a named service is one of services, when services are listed.
func (c *checker) service(at, name string) {
	if name == "" || len(c.p.Services) == 0 {
		return
	}
	if _, ok := c.p.Service(name); !ok {
		c.addf(at, "unknown service %q: services does not list it", name)
	}
}

func (c *checker) min(at string, v, lo float64) {
	if v < lo {
		c.addf(at, "want %v or more, got %v", lo, v)
	}
}

func (c *checker) atLeast(at string, v, lo int) {
	if v < lo {
		c.addf(at, "want %d or more, got %d", lo, v)
	}
}

func (c *checker) fraction(at string, v float64) {
	if v < 0 || v > 1 {
		c.addf(at, "want a fraction from 0 to 1, got %v", v)
	}
}

// checkerFor returns c, or, for an element that inherits from a default
// in a file, a checker that drops problems of keys the file did not set.
func (c *checker) checkerFor(inherits bool) *checker {
	if !inherits || c.d.src == nil {
		return c
	}
	return &checker{d: c.d, p: c.p, only: c.d.src.has}
}

func ms(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "ms" }

// days formats a duration, in days when it is whole days.
func days(d time.Duration) string {
	if d >= day && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}

var (
	repositoryRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	jiraProjectRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{1,9}$`)
)

func (c *checker) issueTrackers() {
	for i, r := range c.p.IssueTrackers {
		at := indexPath("issue_trackers", i)
		switch r.Tracker {
		case TrackerGitHub:
			if !repositoryRE.MatchString(r.Repository) {
				c.addf(fieldPath(at, "repository"), "want owner/name, got %q", r.Repository)
			}
		case TrackerJira:
			if !jiraProjectRE.MatchString(r.Project) {
				c.addf(fieldPath(at, "project"), "want a Jira project key such as SHOP, got %q", r.Project)
			}
		default:
			c.addf(fieldPath(at, "tracker"), "want github or jira, got %q", r.Tracker)
		}
		if r.Tenant != "" {
			if err := events.ValidateTenant(r.Tenant); err != nil {
				c.addf(fieldPath(at, "tenant"), "want 1-63 characters of a-z, 0-9, '_' or '-', got %q", r.Tenant)
			}
		}
		for k, l := range r.Lenses {
			if l != "performance" && l != "security" && l != "scalability" {
				c.addf(indexPath(fieldPath(at, "lenses"), k), "want performance, security or scalability, got %q", l)
			}
		}
		for k, l := range r.Labels {
			if l == "" || strings.ContainsFunc(l, unicode.IsSpace) {
				c.addf(indexPath(fieldPath(at, "labels"), k), "want a label without spaces (Jira refuses them), got %q", l)
			}
		}
		for k, s := range r.Severities {
			if !slices.Contains([]string{"critical", "high", "medium", "low"}, s) {
				c.addf(indexPath(fieldPath(at, "severities"), k), "want critical, high, medium or low, got %q", s)
			}
		}
	}
}

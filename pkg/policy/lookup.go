package policy

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Service returns the service called name.
func (p *Policy) Service(name string) (*Service, bool) {
	for i := range p.Services {
		if p.Services[i].Name == name {
			return &p.Services[i], true
		}
	}
	return nil, false
}

// Journey returns the journey called name.
func (p *Policy) Journey(name string) (*Journey, bool) {
	for i := range p.Journeys {
		if p.Journeys[i].Name == name {
			return &p.Journeys[i], true
		}
	}
	return nil, false
}

// Team returns the team called name.
func (p *Policy) Team(name string) (*Team, bool) {
	for i := range p.Owners.Teams {
		if p.Owners.Teams[i].Name == name {
			return &p.Owners.Teams[i], true
		}
	}
	return nil, false
}

// JourneyFor returns the first journey, in file order, with a match rule
// that a trace satisfies. service and route are the service.name and
// http.route of the trace's entry span (see Match), rootSpan is the name of
// its root span, and attr looks up the root span's attributes; attr may be
// nil.
func (p *Policy) JourneyFor(service, rootSpan, route string, attr func(key string) (string, bool)) (*Journey, bool) {
	for i := range p.Journeys {
		for _, m := range p.Journeys[i].Match {
			if m.matches(service, rootSpan, route, attr) {
				return &p.Journeys[i], true
			}
		}
	}
	return nil, false
}

func (m *Match) matches(service, rootSpan, route string, attr func(string) (string, bool)) bool {
	if m.Service != "" && !globMatch(m.Service, service) ||
		m.RootSpan != "" && !globMatch(m.RootSpan, rootSpan) ||
		m.HTTPRoute != "" && !globMatch(m.HTTPRoute, route) {
		return false
	}
	if len(m.Attributes) > 0 && attr == nil {
		return false
	}
	for k, want := range m.Attributes {
		if v, ok := attr(k); !ok || v != want {
			return false
		}
	}
	return true
}

// OwnerOfService returns the team that owns a service: its own owner key,
// else the last owners.rules entry listing it, else owners.default_team.
func (p *Policy) OwnerOfService(name string) string {
	if s, ok := p.Service(name); ok && s.Owner != "" {
		return s.Owner
	}
	if t := p.ruleOwner(func(r *OwnerRule) []string { return r.Services }, name); t != "" {
		return t
	}
	return p.Owners.DefaultTeam
}

// OwnerOfJourney returns the team that owns a journey: its own owner key,
// else the last owners.rules entry listing it, else the owner of its
// service (see OwnerOfService).
func (p *Policy) OwnerOfJourney(name string) string {
	j, ok := p.Journey(name)
	if ok && j.Owner != "" {
		return j.Owner
	}
	if t := p.ruleOwner(func(r *OwnerRule) []string { return r.Journeys }, name); t != "" {
		return t
	}
	if ok && j.Service != "" {
		return p.OwnerOfService(j.Service)
	}
	return p.Owners.DefaultTeam
}

// OwnerOfPath returns the owner of a repository file: the last
// owners.rules path pattern that matches it, else the last matching line of
// the CODEOWNERS file (read by Load), else owners.default_team. A
// CODEOWNERS line without owners leaves the file to the default team.
func (p *Policy) OwnerOfPath(file string) string {
	for i := len(p.Owners.Rules) - 1; i >= 0; i-- {
		for _, pat := range p.Owners.Rules[i].Paths {
			if matchPattern(pat, file) {
				return p.Owners.Rules[i].Team
			}
		}
	}
	for i := len(p.codeowners) - 1; i >= 0; i-- {
		if matchPattern(p.codeowners[i].pattern, file) {
			if p.codeowners[i].owner == "" {
				break
			}
			return p.codeowners[i].owner
		}
	}
	return p.Owners.DefaultTeam
}

// ruleOwner returns the team of the last rule whose list has name; like
// CODEOWNERS, later rules win.
func (p *Policy) ruleOwner(list func(*OwnerRule) []string, name string) string {
	for i := len(p.Owners.Rules) - 1; i >= 0; i-- {
		for _, n := range list(&p.Owners.Rules[i]) {
			if n == name {
				return p.Owners.Rules[i].Team
			}
		}
	}
	return ""
}

// ActiveWaiver returns the first waiver in force at now for key, which is
// a finding fingerprint or a KPI name, in scope (a service, journey or
// artifact). A waiver without a scope covers every scope.
func (p *Policy) ActiveWaiver(key, scope string, now time.Time) (*Waiver, bool) {
	for i := range p.Waivers {
		w := &p.Waivers[i]
		if (w.Fingerprint == key || w.KPI == key) && key != "" &&
			(w.Scope == "" || w.Scope == scope) && now.Before(w.Expires) {
			return w, true
		}
	}
	return nil, false
}

// HopFor returns the hop class (cdn, edge, api, db, external, queue or
// internal) of the first hop rule whose pattern matches service, or "".
func (p *Policy) HopFor(service string) string {
	for _, r := range p.HopRules {
		if globMatch(r.Service, service) {
			return r.Hop
		}
	}
	return ""
}

// ScalabilityFor returns the target of the first of names (a load test
// name, a service name, ...) that scalability.targets lists, or the
// default target and false.
func (p *Policy) ScalabilityFor(names ...string) (ScalabilityTarget, bool) {
	for _, n := range names {
		for _, t := range p.Scalability.Targets {
			if n != "" && t.Name == n {
				return t, true
			}
		}
	}
	return p.Scalability.Default, false
}

// WebVitalsFor returns the budget of the first page pattern that matches
// url, or the default budget and false.
func (p *Policy) WebVitalsFor(url string) (PageBudget, bool) {
	for _, b := range p.WebVitals.Pages {
		if globMatch(b.URL, url) {
			return b, true
		}
	}
	return p.WebVitals.Default, false
}

// globMatch matches s against a pattern in which * stands for any run of
// characters, '/' included, and everything else for itself. It does not
// allocate: the trace collector calls it for every trace.
func globMatch(pattern, s string) bool {
	first, rest, wild := strings.Cut(pattern, "*")
	if !wild {
		return pattern == s
	}
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	for {
		part, more, wild := strings.Cut(rest, "*")
		if !wild {
			return strings.HasSuffix(s, part)
		}
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s, rest = s[i+len(part):], more
	}
}

// IsThirdParty reports whether calls to host (a host name, with or
// without a port) leave the organisation: it is one of
// sync_third_party.hosts or below one of them, or any_external_host is set
// and the host is not internal. Internal hosts are those under
// internal_domains or builtinInternal, single-label names (cluster
// services such as "payments"), and loopback or private addresses.
func (d *Detections) IsThirdParty(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(stripPort(host), "."))
	if host == "" {
		return false
	}
	for _, h := range d.SyncThirdParty.Hosts {
		if underDomain(host, h) {
			return true
		}
	}
	if !d.SyncThirdParty.AnyExternalHost {
		return false
	}
	for _, list := range [][]string{d.SyncThirdParty.InternalDomains, builtinInternal} {
		for _, h := range list {
			if underDomain(host, h) {
				return false
			}
		}
	}
	if !looksLikeIP(host) {
		return strings.Contains(host, ".")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return !(ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified())
	}
	return strings.Contains(host, ".")
}

// looksLikeIP avoids parsing names as addresses: a failed parse allocates.
func looksLikeIP(host string) bool {
	return strings.Contains(host, ":") || host[0] >= '0' && host[0] <= '9'
}

// stripPort removes a port from host:port or [v6]:port.
func stripPort(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return host[1:i]
		}
		return host
	}
	if i := strings.IndexByte(host, ':'); i >= 0 && strings.Count(host, ":") == 1 {
		return host[:i]
	}
	return host
}

// builtinInternal are domains that never leave a cluster or a host.
var builtinInternal = []string{"localhost", "local", "internal", "svc", "cluster.local", "localdomain"}

// underDomain reports whether host is domain or a name below it; "*.x.com"
// and ".x.com" are read as "x.com".
func underDomain(host, domain string) bool {
	domain = strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(domain, "*"), "."))
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// LicenceDenied reports whether an SPDX licence id is on the deny list,
// ignoring case as SPDX does.
func (s *Security) LicenceDenied(id string) bool {
	for _, l := range s.DenyLicences {
		if strings.EqualFold(l, id) {
			return true
		}
	}
	return false
}

// Warnings lists what is allowed but probably wrong at now: waivers that
// have expired, journeys no trace can match.
func (p *Policy) Warnings(now time.Time) []*Diagnostic {
	w := &diagnostics{src: p.src}
	for i, wv := range p.Waivers {
		if !wv.Expires.IsZero() && !now.Before(wv.Expires) {
			w.addf(fieldPath(indexPath("waivers", i), "expires"), "waiver %q expired at %s; what it waived counts again",
				wv.ID, wv.Expires.UTC().Format(time.RFC3339))
		}
	}
	for i, j := range p.Journeys {
		if len(j.Match) == 0 {
			w.addf(indexPath("journeys", i), "journey %q has no match rules, so no trace is assigned to it", j.Name)
		}
	}
	sortDiagnostics(w.list)
	return w.list
}

// SignerKeys are the public key files of the key-based signers: the SBOM
// collector verifies signatures against them besides its own trusted keys.
func (p *Policy) SignerKeys() []string {
	var keys []string
	for _, s := range p.Security.Signers {
		if s.Key != "" && !slices.Contains(keys, s.Key) {
			keys = append(keys, s.Key)
		}
	}
	return keys
}

// Covers tells whether the signer is trusted for an artifact called
// artifact built from repository (host/owner/name, lower case): it names
// neither artifacts nor repositories, or one of its patterns matches.
func (s *Signer) Covers(artifact, repository string) bool {
	if len(s.Artifacts) == 0 && len(s.Repositories) == 0 {
		return true
	}
	for _, a := range s.Artifacts {
		if artifact != "" && globMatch(a, artifact) {
			return true
		}
	}
	for _, r := range s.Repositories {
		if repository != "" && globMatch(strings.ToLower(r), repository) {
			return true
		}
	}
	return false
}

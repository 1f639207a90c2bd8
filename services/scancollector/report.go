package scancollector

import (
	"cmp"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/trilens/trilens/pkg/events"
	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
)

// Report is one decoded scanner report: every run of a tool with its
// normalised findings. Decoders build it while streaming; it holds only the
// compact findings, never the document.
type Report struct {
	Format string
	Runs   []*Run

	limit, entries int
}

// ErrTooManyFindings stops a report with more entries than the collector takes.
var ErrTooManyFindings = errors.New("report has more findings than the collector accepts (-scancollector.max-findings)")

// reserve counts one more entry of the document against the limit.
func (r *Report) reserve() error {
	r.entries++
	if r.limit > 0 && r.entries > r.limit {
		return ErrTooManyFindings
	}
	return nil
}

// Run is what one tool found in one report.
type Run struct {
	Tool        string
	ToolVersion string
	Findings    []*scanv1.Finding
	// Scope is what the run covered; never nil.
	Scope *scanv1.ReportScope
	// Failed says the tool reported that its run did not complete; Error is
	// its reason when it gives one.
	Failed bool
	Error  string

	seen   map[string]int             // fingerprint key -> occurrences, for ordinals
	merged map[string]*scanv1.Finding // vulnerability key -> finding, for alias merging
}

func (r *Report) newRun(tool, version string) *Run {
	run := &Run{Tool: tool, ToolVersion: version, Scope: &scanv1.ReportScope{},
		seen: map[string]int{}, merged: map[string]*scanv1.Finding{}}
	r.Runs = append(r.Runs, run)
	return run
}

// Count is the number of findings in every run.
func (r *Report) Count() int {
	n := 0
	for _, run := range r.Runs {
		n += len(run.Findings)
	}
	return n
}

// fail marks the run failed, keeping the first reason given.
func (run *Run) fail(reason string) {
	run.Failed = true
	if run.Error == "" {
		run.Error = truncate(strings.TrimSpace(reason), maxMessage)
	}
}

// addCode adds a finding identified by where it is and what it says, not by
// its line: identity parts plus an ordinal among identical ones, so a line
// shift keeps the fingerprint and two identical findings in one file stay two.
func (run *Run) addCode(f *scanv1.Finding, identity ...string) {
	key := events.ID(append([]string{"code", run.Tool}, identity...)...)
	n := run.seen[key]
	run.seen[key] = n + 1
	f.Fingerprint = events.ID(key, strconv.Itoa(n))
	run.Findings = append(run.Findings, f)
}

// addVulnerability adds a package vulnerability. Its fingerprint is the
// canonical id (first CVE of its aliases) with the package and where it was
// found, independent of the tool, so scanners reporting the same
// vulnerability agree; a second report of it in one run merges aliases and
// keeps the higher severity.
func (run *Run) addVulnerability(f *scanv1.Finding, where string) {
	f.Aliases = mergeAliases(f.Aliases)
	id := f.RuleId
	if len(f.Aliases) > 0 {
		id = f.Aliases[0]
	}
	key := events.ID("vuln", id, f.PackageType, f.PackageName, where)
	if prev, ok := run.merged[key]; ok {
		prev.Aliases = mergeAliases(append(prev.Aliases, f.Aliases...))
		prev.Cwes = mergeStrings(append(prev.Cwes, f.Cwes...))
		if f.Severity > prev.Severity {
			prev.Severity = f.Severity
		}
		prev.CvssScore = max(prev.CvssScore, f.CvssScore)
		return
	}
	f.Fingerprint = key
	f.Cwes = mergeStrings(f.Cwes)
	run.merged[key] = f
	run.Findings = append(run.Findings, f)
}

// Severity mapping, one scale for every tool (see doc.go for the table).

// severityFromScore maps a CVSS base score or SARIF security-severity with
// GitHub code scanning's thresholds: >= 9.0 critical, >= 7.0 high, >= 4.0
// medium, > 0 low, 0 info.
func severityFromScore(s float64) scanv1.Severity {
	switch {
	case s >= 9.0:
		return scanv1.Severity_SEVERITY_CRITICAL
	case s >= 7.0:
		return scanv1.Severity_SEVERITY_HIGH
	case s >= 4.0:
		return scanv1.Severity_SEVERITY_MEDIUM
	case s > 0:
		return scanv1.Severity_SEVERITY_LOW
	}
	return scanv1.Severity_SEVERITY_INFO
}

// severityFromWord maps the words scanners use; unknown stays unspecified.
func severityFromWord(w string) scanv1.Severity {
	switch strings.ToLower(strings.TrimSpace(w)) {
	case "critical":
		return scanv1.Severity_SEVERITY_CRITICAL
	case "high", "error":
		return scanv1.Severity_SEVERITY_HIGH
	case "medium", "moderate", "warning":
		return scanv1.Severity_SEVERITY_MEDIUM
	case "low", "note":
		return scanv1.Severity_SEVERITY_LOW
	case "negligible", "info", "informational", "none":
		return scanv1.Severity_SEVERITY_INFO
	}
	return scanv1.Severity_SEVERITY_UNSPECIFIED
}

// aliasRank orders aliases CVE first, then GHSA, then the rest.
func aliasRank(id string) int {
	switch {
	case strings.HasPrefix(id, "CVE-"):
		return 0
	case strings.HasPrefix(id, "GHSA-"):
		return 1
	}
	return 2
}

// mergeAliases de-duplicates vulnerability ids (CVE and GHSA upper-cased as
// their databases spell them) and orders them CVE, GHSA, others.
func mergeAliases(ids []string) []string {
	out := ids[:0:0]
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		if u := strings.ToUpper(id); strings.HasPrefix(u, "CVE-") {
			id = u
		} else if strings.HasPrefix(u, "GHSA-") {
			id = "GHSA-" + strings.ToLower(id[5:])
		}
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b string) int {
		return cmp.Or(cmp.Compare(aliasRank(a), aliasRank(b)), strings.Compare(a, b))
	})
	return slices.Compact(out)
}

func mergeStrings(s []string) []string {
	s = slices.DeleteFunc(s, func(v string) bool { return v == "" })
	slices.Sort(s)
	return slices.Compact(s)
}

var cweRE = regexp.MustCompile(`(?i)\bcwe[-/_ ]?0*(\d+)\b`)

// cwe normalises "CWE-079", "external/cwe/cwe-79" or "79" to "CWE-79".
func cwe(s string) string {
	if m := cweRE.FindStringSubmatch(s); m != nil {
		return "CWE-" + m[1]
	}
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 0 {
		return "CWE-" + strconv.Itoa(n)
	}
	return ""
}

// firstLine keeps a title short: the first line, at most 200 bytes.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return truncate(s, 200)
}

// truncate cuts s to at most n bytes on a rune boundary (protobuf strings
// must stay valid UTF-8).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// maxMessage bounds the text a finding carries; the document keeps the rest.
const maxMessage = 1024

// SeverityName is the lower-case name of a severity: critical, high, ...
func SeverityName(s scanv1.Severity) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "SEVERITY_"))
}

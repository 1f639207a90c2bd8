//go:build ignore

// expect computes, from the real reports under testdata/real/<format>/, how
// many findings each holds, into expected.json. It reads every document whole
// with the standard library alone, independently of the collector's streaming
// decoders, applying the counting rules the collector documents:
//
//   - SARIF: results of kind fail/open/review (or none), not baseline-absent,
//     not suppressed (a suppression without status, or accepted);
//   - gitleaks: every leak;
//   - trivy: vulnerabilities distinct by (resource, location, canonical id,
//     package type, package), failing misconfigurations, every secret;
//   - grype: matches distinct by (canonical id, package type, package, location);
//   - govulncheck: vulnerabilities distinct by (OSV id, module), reachable
//     when a symbol is called;
//   - ZAP: every listed instance (an alert listing none counts once), every
//     entry of an API alert list.
//
// A canonical id is the first of a vulnerability's ids ordered CVE, GHSA,
// others. Empty reports (null, [], an empty file) are complete reports with
// no findings that detection cannot attribute to a tool.
//
// Files named *.gz are stored gzip-compressed (they are over 1 MiB) and
// counted decompressed. Run with go generate (see real_test.go).
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Expectation is what one file must decode to.
type Expectation struct {
	Format string `json:"format"`
	// Detectable is false for empty reports, which need ?format=.
	Detectable bool `json:"detectable"`
	Findings   int  `json:"findings"`
	// Reachable counts govulncheck findings whose symbol is called.
	Reachable  int `json:"reachable,omitempty"`
	Runs       int `json:"runs"`
	FailedRuns int `json:"failed_runs,omitempty"`
}

type Expected struct {
	Files    map[string]*Expectation `json:"files"`
	Families map[string]*Family      `json:"families"`
}

type Family struct {
	Files    int `json:"files"`
	Findings int `json:"findings"`
}

func main() {
	dir := flag.String("dir", "testdata/real", "corpus directory")
	out := flag.String("out", "testdata/real/expected.json", "output file")
	flag.Parse()
	exp := Expected{Files: map[string]*Expectation{}, Families: map[string]*Family{}}
	paths, err := filepath.Glob(filepath.Join(*dir, "*", "*"))
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range paths {
		family := filepath.Base(filepath.Dir(p))
		doc, err := readDoc(p)
		if err != nil {
			log.Fatal(err)
		}
		e := &Expectation{Format: family, Runs: 1}
		trimmed := bytes.TrimSpace(bytes.TrimPrefix(doc, []byte("\xef\xbb\xbf")))
		e.Detectable = len(trimmed) > 0 && string(trimmed) != "null" && !isEmptyArray(trimmed)
		switch family {
		case "sarif":
			err = sarif(doc, e)
		case "gitleaks":
			err = gitleaks(doc, e)
		case "trivy":
			err = trivy(doc, e)
		case "grype":
			err = grype(doc, e)
		case "govulncheck":
			err = govulncheck(doc, e)
		case "zap":
			err = zap(doc, e)
		default:
			log.Fatalf("%s: unknown family %q", p, family)
		}
		if err != nil {
			log.Fatalf("%s: %v", p, err)
		}
		rel, _ := filepath.Rel(*dir, p)
		exp.Files[filepath.ToSlash(rel)] = e
		f := exp.Families[family]
		if f == nil {
			f = &Family{}
			exp.Families[family] = f
		}
		f.Files++
		f.Findings += e.Findings
	}
	b, err := json.MarshalIndent(exp, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
}

// readDoc reads a report, decompressing the few stored gzip-compressed
// (name.gz) because they are over 1 MiB.
func readDoc(p string) ([]byte, error) {
	b, err := os.ReadFile(p)
	if err != nil || !strings.HasSuffix(p, ".gz") {
		return b, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func isEmptyArray(b []byte) bool {
	var a []json.RawMessage
	return json.Unmarshal(b, &a) == nil && len(a) == 0 && b[0] == '['
}

// unmarshal reads JSON, an empty document as null.
func unmarshal(doc []byte, v any) error {
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil
	}
	return json.Unmarshal(bytes.TrimPrefix(doc, []byte("\xef\xbb\xbf")), v)
}

func canonical(ids ...string) string {
	var all []string
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
		all = append(all, id)
	}
	rank := func(s string) int {
		switch {
		case strings.HasPrefix(s, "CVE-"):
			return 0
		case strings.HasPrefix(s, "GHSA-"):
			return 1
		}
		return 2
	}
	sort.Slice(all, func(i, j int) bool {
		if rank(all[i]) != rank(all[j]) {
			return rank(all[i]) < rank(all[j])
		}
		return all[i] < all[j]
	})
	if len(all) == 0 {
		return ""
	}
	return all[0]
}

func purlType(purl string) string {
	t, ok := strings.CutPrefix(purl, "pkg:")
	if !ok {
		return ""
	}
	t, _, _ = strings.Cut(t, "/")
	return t
}

func sarif(doc []byte, e *Expectation) error {
	var log struct {
		Runs []struct {
			Results []struct {
				Kind          string `json:"kind"`
				BaselineState string `json:"baselineState"`
				Suppressions  []struct {
					Status *string `json:"status"`
				} `json:"suppressions"`
			} `json:"results"`
			Invocations []struct {
				ExecutionSuccessful *bool `json:"executionSuccessful"`
			} `json:"invocations"`
		} `json:"runs"`
	}
	if err := unmarshal(doc, &log); err != nil {
		return err
	}
	e.Runs = len(log.Runs)
	for _, run := range log.Runs {
		for _, inv := range run.Invocations {
			if inv.ExecutionSuccessful != nil && !*inv.ExecutionSuccessful {
				e.FailedRuns++
				break
			}
		}
	results:
		for _, r := range run.Results {
			if !slices.Contains([]string{"", "fail", "open", "review"}, r.Kind) || r.BaselineState == "absent" {
				continue
			}
			for _, s := range r.Suppressions {
				if s.Status == nil || *s.Status == "accepted" {
					continue results
				}
			}
			e.Findings++
		}
	}
	return nil
}

func gitleaks(doc []byte, e *Expectation) error {
	var leaks []json.RawMessage
	if err := unmarshal(doc, &leaks); err != nil {
		return err
	}
	e.Findings = len(leaks)
	return nil
}

type trivyResult struct {
	Target          string
	Vulnerabilities []struct {
		VulnerabilityID string
		VendorIDs       []string
		PkgName         string
		PkgPath         string
		PkgIdentifier   struct{ PURL string }
	}
	Misconfigurations []struct{ Status string }
	Secrets           []json.RawMessage
}

type trivyResource struct {
	Namespace, Kind, Name, Error string
	Results                      []trivyResult
}

func trivy(doc []byte, e *Expectation) error {
	keys := map[string]bool{}
	count := func(resource string, results []trivyResult) {
		for _, r := range results {
			for _, v := range r.Vulnerabilities {
				where := r.Target
				if v.PkgPath != "" {
					where = v.PkgPath
				}
				if resource != "" {
					where = resource + ": " + where
				}
				id := canonical(append([]string{v.VulnerabilityID}, v.VendorIDs...)...)
				keys[strings.Join([]string{id, purlType(v.PkgIdentifier.PURL), v.PkgName, where}, "\x00")] = true
			}
			for _, m := range r.Misconfigurations {
				if m.Status == "" || m.Status == "FAIL" {
					e.Findings++
				}
			}
			e.Findings += len(r.Secrets)
		}
	}
	trimmed := bytes.TrimSpace(doc)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		var results []trivyResult
		if err := unmarshal(doc, &results); err != nil {
			return err
		}
		count("", results)
	} else {
		var rep struct {
			Results                                                 []trivyResult
			Resources, Findings, Vulnerabilities, Misconfigurations []trivyResource
		}
		if err := unmarshal(doc, &rep); err != nil {
			return err
		}
		count("", rep.Results)
		failed := false
		for _, list := range [][]trivyResource{rep.Resources, rep.Findings, rep.Vulnerabilities, rep.Misconfigurations} {
			for _, res := range list {
				count(strings.Trim(res.Namespace+"/"+res.Kind+"/"+res.Name, "/"), res.Results)
				failed = failed || res.Error != ""
			}
		}
		if failed {
			e.FailedRuns = 1
		}
	}
	e.Findings += len(keys)
	return nil
}

func grype(doc []byte, e *Expectation) error {
	var rep struct {
		Matches []struct {
			Vulnerability          struct{ ID string }
			RelatedVulnerabilities []struct{ ID string } `json:"relatedVulnerabilities"`
			Artifact               struct {
				Name, Type, PURL string
				Locations        []struct{ Path string }
			}
		}
	}
	if err := unmarshal(doc, &rep); err != nil {
		return err
	}
	keys := map[string]bool{}
	for _, m := range rep.Matches {
		ids := []string{m.Vulnerability.ID}
		for _, r := range m.RelatedVulnerabilities {
			ids = append(ids, r.ID)
		}
		typ := m.Artifact.Type
		if t := purlType(m.Artifact.PURL); t != "" {
			typ = t
		}
		loc := ""
		if len(m.Artifact.Locations) > 0 {
			loc = m.Artifact.Locations[0].Path
		}
		keys[strings.Join([]string{canonical(ids...), typ, m.Artifact.Name, loc}, "\x00")] = true
	}
	e.Findings = len(keys)
	return nil
}

func govulncheck(doc []byte, e *Expectation) error {
	called := map[[2]string]bool{}
	seen := map[[2]string]bool{}
	note := func(osv, module string, call bool) {
		k := [2]string{osv, module}
		seen[k] = true
		called[k] = called[k] || call
	}
	var values []json.RawMessage
	d := json.NewDecoder(bytes.NewReader(doc))
	for {
		var v json.RawMessage
		err := d.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '[' {
			var arr []json.RawMessage
			if err := json.Unmarshal(v, &arr); err != nil {
				return err
			}
			values = append(values, arr...)
			continue
		}
		values = append(values, v)
	}
	for _, v := range values {
		var m struct {
			Finding *struct {
				OSV   string `json:"osv"`
				Trace []struct {
					Module, Function string
				} `json:"trace"`
			} `json:"finding"`
			Vulns []struct {
				OSV struct {
					ID string `json:"id"`
				}
				ModPath  string
				CallSink int
				Modules  []struct {
					Path     string
					Packages []struct {
						CallStacks []json.RawMessage
					}
				}
			}
		}
		if err := json.Unmarshal(v, &m); err != nil {
			return err
		}
		if f := m.Finding; f != nil && len(f.Trace) > 0 {
			note(f.OSV, f.Trace[0].Module, f.Trace[0].Function != "")
		}
		for _, vu := range m.Vulns {
			if vu.ModPath != "" || len(vu.Modules) == 0 {
				note(vu.OSV.ID, vu.ModPath, vu.CallSink != 0)
				continue
			}
			for _, mod := range vu.Modules {
				call := false
				for _, p := range mod.Packages {
					call = call || len(p.CallStacks) > 0
				}
				note(vu.OSV.ID, mod.Path, call)
			}
		}
	}
	e.Findings = len(seen)
	for _, c := range called {
		if c {
			e.Reachable++
		}
	}
	return nil
}

func zap(doc []byte, e *Expectation) error {
	trimmed := bytes.TrimSpace(doc)
	type alert struct {
		Instances []json.RawMessage `json:"instances" xml:"instances>instance"`
	}
	count := func(alerts []alert) {
		for _, a := range alerts {
			e.Findings += max(len(a.Instances), 1)
		}
	}
	switch {
	case len(trimmed) == 0:
	case trimmed[0] == '<':
		var rep struct {
			Sites []struct {
				Alerts []struct {
					Instances []struct{} `xml:"instances>instance"`
				} `xml:"alerts>alertitem"`
			} `xml:"site"`
		}
		if err := xml.Unmarshal(doc, &rep); err != nil {
			return err
		}
		for _, s := range rep.Sites {
			for _, a := range s.Alerts {
				e.Findings += max(len(a.Instances), 1)
			}
		}
	case trimmed[0] == '[':
		var list []json.RawMessage
		if err := json.Unmarshal(doc, &list); err != nil {
			return err
		}
		e.Findings = len(list)
	default:
		var rep struct {
			Site []struct {
				Alerts []alert `json:"alerts"`
			} `json:"site"`
			Alerts []json.RawMessage `json:"alerts"`
		}
		if err := json.Unmarshal(doc, &rep); err != nil {
			return fmt.Errorf("ZAP JSON: %w", err)
		}
		for _, s := range rep.Site {
			count(s.Alerts)
		}
		e.Findings += len(rep.Alerts)
	}
	return nil
}

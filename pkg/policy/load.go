package policy

import (
	"os"
	"path/filepath"
	"strings"
)

// Load reads, decodes and validates a policy file. Relative paths in it
// (owners.codeowners, security.catalogues, signer keys) are taken relative
// to the file's directory, and the CODEOWNERS file is read.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	for _, f := range []*string{&p.Owners.Codeowners, &p.Security.Catalogues.KEV, &p.Security.Catalogues.EPSS} {
		*f = resolve(dir, *f)
	}
	for i := range p.Security.Signers {
		p.Security.Signers[i].Key = resolve(dir, p.Security.Signers[i].Key)
	}
	if p.Owners.Codeowners != "" {
		if err := p.readCodeowners(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func resolve(dir, path string) string {
	if path == "" || filepath.IsAbs(path) || strings.Contains(path, "://") {
		return path
	}
	return filepath.Join(dir, path)
}

// ValidateFile loads the policy at path and returns every problem in it,
// for `trilens policy validate FILE`. Warnings (such as expired waivers)
// are not errors: see (*Policy).Warnings.
func ValidateFile(path string) error {
	_, err := Load(path)
	return err
}

// Parse decodes and validates a policy; name is the file name used in
// messages. Keys the document leaves out keep the values of Default.
// Unknown keys, wrong types and invalid values are all reported together.
func Parse(data []byte, name string) (*Policy, error) {
	p := Default()
	p.src = &source{name: name, lines: map[string]int{}}
	d := &decoder{diagnostics: diagnostics{src: p.src}}
	d.parseDocument(data, p)
	p.inherit()
	// A key that failed to decode kept its default, which may be fine or
	// may draw a second, confusing complaint: report only the first.
	problems := d.list
	for _, v := range p.validate() {
		if !underAny(v.Path, d.list) {
			problems = append(problems, v)
		}
	}
	if len(problems) > 0 {
		return nil, join(problems)
	}
	return p, nil
}

func underAny(path string, list []*Diagnostic) bool {
	for _, d := range list {
		if d.Path == "" || path == d.Path || strings.HasPrefix(path, d.Path+".") || strings.HasPrefix(path, d.Path+"[") {
			return true
		}
	}
	return false
}

// inherit fills keys the file left out from the place they default to: a
// journey's tier from its service, scalability targets and page budgets
// from their section's default.
func (p *Policy) inherit() {
	for i := range p.Journeys {
		j := &p.Journeys[i]
		if p.src.has(fieldPath(indexPath("journeys", i), "tier")) {
			continue
		}
		j.Tier = 3
		if s, ok := p.Service(j.Service); ok {
			j.Tier = s.Tier
		}
	}
	for i := range p.Scalability.Targets {
		t, d := &p.Scalability.Targets[i], p.Scalability.Default
		at := indexPath("scalability.targets", i)
		p.inheritFloat(at, "peak_rps", &t.PeakRPS, d.PeakRPS)
		p.inheritFloat(at, "p95_at_peak_ms", &t.P95AtPeakMs, d.P95AtPeakMs)
		p.inheritFloat(at, "error_rate", &t.ErrorRate, d.ErrorRate)
		p.inheritFloat(at, "utilisation_ceiling", &t.UtilisationCeiling, d.UtilisationCeiling)
		p.inheritFloat(at, "min_headroom", &t.MinHeadroom, d.MinHeadroom)
	}
	for i := range p.WebVitals.Pages {
		b, d := &p.WebVitals.Pages[i], p.WebVitals.Default
		at := indexPath("web_vitals.pages", i)
		p.inheritFloat(at, "lcp_ms", &b.LCPMs, d.LCPMs)
		p.inheritFloat(at, "inp_ms", &b.INPMs, d.INPMs)
		p.inheritFloat(at, "tbt_ms", &b.TBTMs, d.TBTMs)
		p.inheritFloat(at, "cls", &b.CLS, d.CLS)
		p.inheritFloat(at, "ttfb_ms", &b.TTFBMs, d.TTFBMs)
		p.inheritFloat(at, "min_performance_score", &b.MinPerformanceScore, d.MinPerformanceScore)
	}
}

func (p *Policy) inheritFloat(at, key string, f *float64, def float64) {
	if !p.src.has(fieldPath(at, key)) {
		*f = def
	}
}

package scancollector

import (
	"cmp"
	"io"
	"strings"

	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"github.com/trilens/trilens/services/scancollector/internal/jsonstream"
)

// govulncheck -json, in two generations:
//
//   - 1.x: a stream of messages (config, progress, SBOM, osv, finding),
//     concatenated, one per line, or gathered in an array by a CI step;
//   - before 1.0: one object with "Vulns" — either each vulnerable symbol
//     with the sinks of the call, import and require graphs ("Calls",
//     "Imports", "Requires"; 2022 spring), or each OSV entry with its
//     "Modules", their packages and call stacks (2022 autumn).
//
// A vulnerability is one finding per module, at the most precise level
// govulncheck reached, which is its reachability: a called symbol
// (REACHABILITY_CALLED, high), an imported package (IMPORTED, medium), a
// required module (REQUIRED, low) — govulncheck gives no severity of its own.

type govulnOSV struct {
	ID       string
	Aliases  []string
	Summary  string
	Details  string
	Database struct {
		URL string `json:"url"`
	} `json:"database_specific"`
}

type govulnFrame struct {
	Module   string
	Version  string
	Package  string
	Function string
	Position *struct {
		Filename string
		Line     uint32
	}
}

type govulnFinding struct {
	OSV          string         `json:"osv"`
	FixedVersion string         `json:"fixed_version"`
	Trace        []*govulnFrame `json:"trace"`
}

// govulnPreV1 is one entry of "Vulns" before 1.0, in either of its shapes.
type govulnPreV1 struct {
	OSV *govulnOSV
	// autumn 2022
	Modules []struct {
		Path, FoundVersion, FixedVersion string
		Packages                         []struct {
			Path       string
			CallStacks []struct {
				Frames []struct {
					Position *struct {
						Filename string
						Line     uint32
					}
				}
			}
		}
	}
	// spring 2022
	Symbol, PkgPath, ModPath string
	CallSink, ImportSink     int
}

// govulnKey is what one finding is: a vulnerability in a module.
type govulnKey struct{ osv, module string }

type govulnState struct {
	rep     *Report
	osvs    map[string]*govulnOSV
	best    map[govulnKey]*scanv1.Finding
	order   []govulnKey
	scanner string
	version string
	roots   []string
	// requires maps a module path to its version (spring 2022 "Requires").
	requires map[string]string
	messages bool
	preV1    bool
}

func decodeGovulncheck(r io.Reader, limit int) (*Report, error) {
	st := &govulnState{rep: &Report{Format: FormatGovulncheck, limit: limit},
		osvs: map[string]*govulnOSV{}, best: map[govulnKey]*scanv1.Finding{}, requires: map[string]string{}}
	first, r, err := firstByte(r)
	if err != nil {
		return nil, err
	}
	d := jsonstream.New(r)
	if first == '[' {
		err = d.Array(func(int) error { return st.message(d) })
	} else {
		for d.More() {
			if err = st.message(d); err != nil {
				break
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	switch {
	case st.messages && st.scanner == "":
		// govulncheck starts every stream with its config; without it the
		// stream is not all of a run.
		return nil, d.Errorf("want a config message first (govulncheck -json)")
	case !st.messages && !st.preV1 && first != 0 && first != '[' && first != 'n':
		return nil, d.Errorf(`want govulncheck -json messages ("config", "osv", "finding", ...) or a "Vulns" object`)
	}
	run := st.rep.newRun(cmp.Or(st.scanner, "govulncheck"), st.version)
	run.Scope.Root = strings.Join(st.roots, ",")
	for _, k := range st.order {
		f := st.best[k]
		if o := st.osvs[k.osv]; o != nil {
			f.Aliases = append([]string{o.ID}, o.Aliases...)
			f.Title = firstLine(o.Summary)
			f.Message = truncate(o.Details, maxMessage)
			f.HelpUri = o.Database.URL
		} else {
			f.Aliases = []string{k.osv}
		}
		if f.InstalledVersion == "" {
			f.InstalledVersion = st.requires[k.module]
		}
		if f.Title == "" {
			f.Title = firstLine(f.Message)
		}
		if f.Title == "" {
			f.Title = k.osv
		}
		// The package location (go.mod) identifies it, not the call site, which moves.
		run.addVulnerability(f, "go.mod")
	}
	return st.rep, nil
}

// message reads one top-level object: a 1.x message or the pre-1.0 report.
func (st *govulnState) message(d *jsonstream.Decoder) error {
	return d.Object(func(k string) error {
		switch k {
		case "config":
			st.messages = true
			var c struct {
				ScannerName    string `json:"scanner_name"`
				ScannerVersion string `json:"scanner_version"`
			}
			if err := d.Decode(&c); err != nil {
				return err
			}
			st.scanner, st.version = c.ScannerName, c.ScannerVersion
			return nil
		case "SBOM":
			st.messages = true
			var s struct {
				Roots []string `json:"roots"`
			}
			if err := d.Decode(&s); err != nil {
				return err
			}
			st.roots = append(st.roots, s.Roots...)
			return nil
		case "osv":
			st.messages = true
			var o govulnOSV
			if err := d.Decode(&o); err != nil {
				return err
			}
			st.osvs[o.ID] = &o
			return nil
		case "finding":
			st.messages = true
			if err := st.rep.reserve(); err != nil {
				return err
			}
			var f govulnFinding
			if err := d.Decode(&f); err != nil {
				return err
			}
			if len(f.Trace) == 0 || f.Trace[0] == nil || f.OSV == "" {
				return d.Errorf("finding has no osv or trace")
			}
			t := f.Trace[0]
			// The innermost frame of the call stack is the caller in the scanned code.
			var at *govulnFrame
			if last := f.Trace[len(f.Trace)-1]; last != nil && len(f.Trace) > 1 {
				at = last
			}
			level := reachability(t.Function != "", t.Package != "")
			st.add(govulnKey{f.OSV, t.Module}, t.Version, f.FixedVersion, level, at)
			return nil
		case "progress":
			st.messages = true
		case "Vulns":
			st.preV1 = true
			return d.Array(func(int) error { return st.preV1Vuln(d) })
		case "Requires":
			var req struct {
				Modules map[string]struct{ Path, Version string }
			}
			if err := d.Decode(&req); err != nil {
				return err
			}
			for _, m := range req.Modules {
				st.requires[m.Path] = m.Version
			}
			return nil
		}
		return d.Skip()
	})
}

func (st *govulnState) preV1Vuln(d *jsonstream.Decoder) error {
	if err := st.rep.reserve(); err != nil {
		return err
	}
	var v govulnPreV1
	if err := d.Decode(&v); err != nil {
		return err
	}
	if v.OSV == nil || v.OSV.ID == "" {
		return d.Errorf("vulnerability has no OSV entry")
	}
	st.osvs[v.OSV.ID] = v.OSV
	if v.ModPath != "" || len(v.Modules) == 0 {
		// Spring 2022: one entry per symbol, with the sinks it reached.
		level := reachability(v.CallSink != 0, v.ImportSink != 0)
		st.add(govulnKey{v.OSV.ID, v.ModPath}, "", "", level, nil)
		return nil
	}
	for _, m := range v.Modules {
		level := scanv1.Reachability_REACHABILITY_REQUIRED
		var at *govulnFrame
		for _, p := range m.Packages {
			if len(p.CallStacks) == 0 {
				level = max(level, scanv1.Reachability_REACHABILITY_IMPORTED)
				continue
			}
			level = scanv1.Reachability_REACHABILITY_CALLED
			if fr := p.CallStacks[0].Frames; at == nil && len(fr) > 0 && fr[0].Position != nil {
				at = &govulnFrame{Position: fr[0].Position}
			}
		}
		st.add(govulnKey{v.OSV.ID, m.Path}, m.FoundVersion, m.FixedVersion, level, at)
	}
	return nil
}

// reachability orders the levels so that the most precise one wins:
// REQUIRED < IMPORTED < CALLED in strength (the enum values are not).
func reachability(called, imported bool) scanv1.Reachability {
	switch {
	case called:
		return scanv1.Reachability_REACHABILITY_CALLED
	case imported:
		return scanv1.Reachability_REACHABILITY_IMPORTED
	}
	return scanv1.Reachability_REACHABILITY_REQUIRED
}

func strength(r scanv1.Reachability) int {
	switch r {
	case scanv1.Reachability_REACHABILITY_CALLED:
		return 3
	case scanv1.Reachability_REACHABILITY_IMPORTED:
		return 2
	case scanv1.Reachability_REACHABILITY_REQUIRED:
		return 1
	}
	return 0
}

var reachabilitySeverity = map[scanv1.Reachability]scanv1.Severity{
	scanv1.Reachability_REACHABILITY_CALLED:   scanv1.Severity_SEVERITY_HIGH,
	scanv1.Reachability_REACHABILITY_IMPORTED: scanv1.Severity_SEVERITY_MEDIUM,
	scanv1.Reachability_REACHABILITY_REQUIRED: scanv1.Severity_SEVERITY_LOW,
}

// add records a vulnerability in a module at a reachability level, keeping
// the strongest level seen and, for a call, where the scanned code makes it.
func (st *govulnState) add(k govulnKey, version, fixed string, level scanv1.Reachability, at *govulnFrame) {
	f, ok := st.best[k]
	if !ok {
		f = &scanv1.Finding{
			RuleId: k.osv, Category: scanv1.Category_CATEGORY_VULNERABILITY,
			PackageName: k.module, PackageType: "golang", InstalledVersion: version,
			FixedVersion: fixed, Path: "go.mod",
		}
		st.best[k] = f
		st.order = append(st.order, k)
	}
	if strength(level) <= strength(f.Reachability) {
		return
	}
	f.Reachability = level
	f.Severity = reachabilitySeverity[level]
	if level == scanv1.Reachability_REACHABILITY_CALLED && at != nil && at.Position != nil && at.Position.Filename != "" {
		f.Path, f.StartLine, f.EndLine = at.Position.Filename, at.Position.Line, at.Position.Line
	}
}

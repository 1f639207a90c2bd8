package scancollector

import (
	"cmp"
	"io"

	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"github.com/trilens/trilens/services/scancollector/internal/jsonstream"
)

// govulncheck -json: a stream of messages (config, progress, SBOM, osv,
// finding). A vulnerability is reported once per module at the most precise
// level govulncheck reached: a called symbol is high, an imported package
// medium, a required module low (govulncheck gives no severity of its own).

type govulnOSV struct {
	ID       string
	Aliases  []string
	Summary  string
	Details  string
	Database struct {
		URL string `json:"url"`
	} `json:"database_specific"`
}

type govulnFinding struct {
	OSV          string `json:"osv"`
	FixedVersion string `json:"fixed_version"`
	Trace        []struct {
		Module   string
		Version  string
		Package  string
		Function string
		Position *struct {
			Filename string
			Line     uint32
		}
	} `json:"trace"`
}

func decodeGovulncheck(r io.Reader, limit int) (*Report, error) {
	rep := &Report{Format: FormatGovulncheck, limit: limit}
	d := jsonstream.New(r)
	var version, scanner string
	osvs := map[string]*govulnOSV{}
	type key struct{ osv, module string }
	best := map[key]*scanv1.Finding{}
	var order []key
	for n := 0; d.More(); n++ {
		err := d.Object(func(k string) error {
			switch k {
			case "config":
				var c struct {
					ScannerName    string `json:"scanner_name"`
					ScannerVersion string `json:"scanner_version"`
				}
				if err := d.Decode(&c); err != nil {
					return err
				}
				scanner, version = c.ScannerName, c.ScannerVersion
				return nil
			case "osv":
				var o govulnOSV
				if err := d.Decode(&o); err != nil {
					return err
				}
				osvs[o.ID] = &o
				return nil
			case "finding":
				if err := rep.reserve(); err != nil {
					return err
				}
				var f govulnFinding
				if err := d.Decode(&f); err != nil {
					return err
				}
				if len(f.Trace) == 0 || f.OSV == "" {
					return d.Errorf("finding has no osv or trace")
				}
				t := f.Trace[0]
				sev := scanv1.Severity_SEVERITY_LOW
				switch {
				case t.Function != "":
					sev = scanv1.Severity_SEVERITY_HIGH
				case t.Package != "":
					sev = scanv1.Severity_SEVERITY_MEDIUM
				}
				k := key{f.OSV, t.Module}
				prev, ok := best[k]
				if !ok {
					prev = &scanv1.Finding{
						RuleId: f.OSV, Category: scanv1.Category_CATEGORY_VULNERABILITY,
						PackageName: t.Module, PackageType: "golang", InstalledVersion: t.Version,
						FixedVersion: f.FixedVersion, Path: "go.mod",
					}
					best[k] = prev
					order = append(order, k)
				}
				if sev > prev.Severity {
					prev.Severity = sev
					// The innermost frame of the call stack is the caller in this module.
					last := f.Trace[len(f.Trace)-1]
					if sev == scanv1.Severity_SEVERITY_HIGH && last.Position != nil {
						prev.Path, prev.StartLine, prev.EndLine = last.Position.Filename, last.Position.Line, last.Position.Line
					}
				}
				return nil
			}
			return d.Skip()
		})
		if err != nil {
			return nil, err
		}
		if n == 0 && scanner == "" {
			return nil, d.Errorf("want a config message first (govulncheck -json)")
		}
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	if scanner == "" {
		return nil, d.Errorf("want a config message first (govulncheck -json)")
	}
	run := rep.newRun(cmp.Or(scanner, "govulncheck"), version)
	for _, k := range order {
		f := best[k]
		if o := osvs[k.osv]; o != nil {
			f.Aliases = append([]string{o.ID}, o.Aliases...)
			f.Title = firstLine(o.Summary)
			f.Message = truncate(o.Details, maxMessage)
			f.HelpUri = o.Database.URL
		} else {
			f.Aliases = []string{k.osv}
		}
		if f.Title == "" {
			f.Title = k.osv
		}
		// The package location (go.mod) identifies it, not the call site, which moves.
		run.addVulnerability(f, "go.mod")
	}
	return rep, nil
}

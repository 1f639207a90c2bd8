package scorer

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/server"
	"github.com/trilens/trilens/pkg/store"
)

// Register mounts the scan lens's part of the scorer API:
//
//	GET  /v1/scorecard/scans      findings of a commit's reports against its base branch
//	POST /v1/scan/catalogs/kev    load CISA KEV JSON
//	POST /v1/scan/catalogs/epss   load an EPSS CSV
func (p *scanLifecycle) Register(mux server.Router) {
	mux.HandleFunc("GET /v1/scorecard/scans", p.serveScorecard)
	mux.HandleFunc("POST /v1/scan/catalogs/{kind}", p.serveCatalog)
}

// ScanReport is the scoring state of one report.
type ScanReport struct {
	ReportID  string   `json:"report_id"`
	Tools     []string `json:"tools"`
	Parts     uint32   `json:"parts"`
	PartCount uint32   `json:"part_count"`
	Scored    bool     `json:"scored"`
}

// ScanFinding is a finding as the gate sees it.
type ScanFinding struct {
	Fingerprint      string    `json:"fingerprint"`
	Tool             string    `json:"tool"`
	Status           string    `json:"status"` // new, open or fixed, relative to the base branch
	Severity         string    `json:"severity"`
	Category         string    `json:"category"`
	RuleID           string    `json:"rule_id"`
	Title            string    `json:"title"`
	Aliases          []string  `json:"aliases,omitempty"`
	Package          string    `json:"package,omitempty"`
	InstalledVersion string    `json:"installed_version,omitempty"`
	FixedVersion     string    `json:"fixed_version,omitempty"`
	Path             string    `json:"path,omitempty"`
	Line             uint32    `json:"line,omitempty"`
	FirstSeen        time.Time `json:"first_seen"`
	KEV              bool      `json:"kev"`
	KEVAdded         time.Time `json:"kev_added,omitzero"`
	EPSS             float64   `json:"epss,omitempty"`
}

// ScanScorecard answers GET /v1/scorecard/scans.
type ScanScorecard struct {
	// Scored is false until every report is complete and its lifecycle applied.
	Scored   bool          `json:"scored"`
	Reports  []ScanReport  `json:"reports"`
	Findings []ScanFinding `json:"findings"`
}

type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// serveScorecard compares the findings of a commit's reports (?report=ID,
// repeatable; else the latest report of each tool for ?commit=) with the
// open findings of ?base= (the base branch) in the same repository and service.
func (p *scanLifecycle) serveScorecard(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tenant := q.Get("tenant")
	if tenant == "" {
		tenant = "default"
	}
	if err := events.ValidateTenant(tenant); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error(), "tenant"})
		return
	}
	ids := q["report"]
	if len(ids) == 0 && q.Get("commit") == "" {
		writeJSON(w, http.StatusBadRequest, apiError{"want report=ID (repeatable) or commit=SHA", "report"})
		return
	}
	card, err := p.scorecard(r.Context(), tenant, ids, q.Get("repo"), q.Get("service"), q.Get("commit"), q.Get("base"))
	if err != nil {
		p.log.Error("scan scorecard", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, card)
}

func (p *scanLifecycle) scorecard(ctx context.Context, tenant string, ids []string, repo, service, commit, base string) (*ScanScorecard, error) {
	conn, db := p.st.Conn(), p.st.Database()
	if len(ids) == 0 {
		rows, err := conn.Query(ctx, `SELECT tool, argMax(report_id, observed_at) FROM `+db+`.scan_report_parts FINAL
			WHERE tenant = ? AND repository = ? AND service = ? AND commit = ? GROUP BY tool`, tenant, repo, service, commit)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var tool, id string
			if err := rows.Scan(&tool, &id); err != nil {
				rows.Close()
				return nil, err
			}
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		rows.Close()
	}
	card := &ScanScorecard{Scored: len(ids) > 0, Reports: []ScanReport{}, Findings: []ScanFinding{}}
	var branch string
	for _, id := range ids {
		m, err := p.meta(ctx, reportKey{tenant, id})
		if err != nil {
			return nil, err
		}
		var n uint64
		if err := conn.QueryRow(ctx, `SELECT count() FROM `+db+`.scan_reports_scored FINAL WHERE tenant = ? AND report_id = ?`, tenant, id).Scan(&n); err != nil {
			return nil, err
		}
		rep := ScanReport{ReportID: id, Tools: m.tools, Parts: m.seen, PartCount: m.count, Scored: n > 0}
		if rep.Tools == nil {
			rep.Tools = []string{}
		}
		card.Reports = append(card.Reports, rep)
		card.Scored = card.Scored && rep.Scored
		if m.count > 0 {
			repo, service, branch = m.repository, m.service, m.branch
		}
	}
	if !card.Scored {
		return card, nil
	}
	// The head: every finding of the reports, with its state on the head branch.
	head := map[string]*lifecycleRow{}
	var tools []string
	for _, id := range ids {
		fs, err := p.reportFindings(ctx, reportKey{tenant, id})
		if err != nil {
			return nil, err
		}
		for tool, list := range fs {
			for i := range list {
				head[tool+"\x00"+list[i].Fingerprint] = &list[i]
			}
		}
		for _, rep := range card.Reports {
			if rep.ReportID == id {
				for _, t := range rep.Tools {
					if !slices.Contains(tools, t) {
						tools = append(tools, t)
					}
				}
			}
		}
	}
	headState := map[string]*lifecycleRow{}
	baseState := map[string]*lifecycleRow{}
	for _, tool := range tools {
		hs, err := p.lifecycle(ctx, tenant, repo, service, branch, tool)
		if err != nil {
			return nil, err
		}
		for fp, r := range hs {
			headState[tool+"\x00"+fp] = r
		}
		if base != "" && base != branch {
			bs, err := p.lifecycle(ctx, tenant, repo, service, base, tool)
			if err != nil {
				return nil, err
			}
			for fp, r := range bs {
				if r.State != StateFixed {
					baseState[tool+"\x00"+fp] = r
				}
			}
		}
	}
	compareBase := base != "" && base != branch
	for key, f := range head {
		sf := scanFinding(f)
		hs := headState[key]
		if hs != nil {
			sf.FirstSeen = hs.FirstSeen
		}
		if compareBase {
			sf.Status = StateNew
			if bs, ok := baseState[key]; ok {
				sf.Status = StateOpen
				if sf.FirstSeen.IsZero() || bs.FirstSeen.Before(sf.FirstSeen) {
					sf.FirstSeen = bs.FirstSeen
				}
			}
		} else {
			sf.Status = StateOpen
			if hs != nil && (hs.State == StateNew || hs.State == StateReopened) && slices.Contains(ids, hs.LastReportID) {
				sf.Status = StateNew
			}
		}
		card.Findings = append(card.Findings, sf)
	}
	// Fixed: open on the base and absent from the head, or fixed by these reports.
	if compareBase {
		for key, bs := range baseState {
			if _, ok := head[key]; !ok {
				sf := scanFinding(bs)
				sf.Status, sf.FirstSeen = StateFixed, bs.FirstSeen
				card.Findings = append(card.Findings, sf)
			}
		}
	} else {
		for _, hs := range headState {
			if hs.State == StateFixed && slices.Contains(ids, hs.LastReportID) {
				sf := scanFinding(hs)
				sf.Status, sf.FirstSeen = StateFixed, hs.FirstSeen
				card.Findings = append(card.Findings, sf)
			}
		}
	}
	if err := p.exploitInfo(ctx, card.Findings); err != nil {
		return nil, err
	}
	slices.SortFunc(card.Findings, func(a, b ScanFinding) int {
		return strings.Compare(a.Status+a.Tool+a.Fingerprint, b.Status+b.Tool+b.Fingerprint)
	})
	return card, nil
}

func scanFinding(r *lifecycleRow) ScanFinding {
	return ScanFinding{Fingerprint: r.Fingerprint, Tool: r.Tool, Severity: r.Severity, Category: r.Category,
		RuleID: r.RuleID, Title: r.Title, Aliases: r.Aliases, Package: r.Package, InstalledVersion: r.Installed,
		FixedVersion: r.Fixed, Path: r.Path, Line: r.Line}
}

// exploitInfo marks findings whose CVE aliases are in the loaded KEV and EPSS catalogues.
func (p *scanLifecycle) exploitInfo(ctx context.Context, fs []ScanFinding) error {
	var cves []string
	for _, f := range fs {
		for _, a := range f.Aliases {
			if strings.HasPrefix(a, "CVE-") && !slices.Contains(cves, a) {
				cves = append(cves, a)
			}
		}
	}
	if len(cves) == 0 {
		return nil
	}
	conn, db := p.st.Conn(), p.st.Database()
	kev := map[string]time.Time{}
	rows, err := conn.Query(ctx, `SELECT cve, date_added FROM `+db+`.scan_kev FINAL WHERE has(?, cve)`, cves)
	if err != nil {
		return err
	}
	for rows.Next() {
		var cve string
		var added time.Time
		if err := rows.Scan(&cve, &added); err != nil {
			rows.Close()
			return err
		}
		kev[cve] = added
	}
	rows.Close()
	epss := map[string]float64{}
	rows, err = conn.Query(ctx, `SELECT cve, epss FROM `+db+`.scan_epss FINAL WHERE has(?, cve)`, cves)
	if err != nil {
		return err
	}
	for rows.Next() {
		var cve string
		var v float64
		if err := rows.Scan(&cve, &v); err != nil {
			rows.Close()
			return err
		}
		epss[cve] = v
	}
	rows.Close()
	for i := range fs {
		for _, a := range fs[i].Aliases {
			if added, ok := kev[a]; ok {
				fs[i].KEV, fs[i].KEVAdded = true, added
			}
			fs[i].EPSS = max(fs[i].EPSS, epss[a])
		}
	}
	return nil
}

// serveCatalog loads a KEV JSON or EPSS CSV body.
func (p *scanLifecycle) serveCatalog(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, 128<<20)
	var t *rowTable
	var err error
	switch kind := r.PathValue("kind"); kind {
	case "kev":
		t, err = parseKEV(body, p.now().UTC())
	case "epss":
		t, err = parseEPSS(body, p.now().UTC())
	default:
		writeJSON(w, http.StatusNotFound, apiError{"unknown catalogue " + kind + ": want kev or epss", "kind"})
		return
	}
	if err != nil {
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, status, apiError{Error: err.Error(), Field: "body"})
		return
	}
	if err := p.st.Insert(r.Context(), t); err != nil {
		p.log.Error("load catalogue", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
		return
	}
	_, _ = io.Copy(io.Discard, body)
	writeJSON(w, http.StatusOK, map[string]int{"loaded": t.Len()})
}

var _ store.Table = (*rowTable)(nil)

package scan

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/trilens/trilens/pkg/server"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/respond"
)

// Register mounts the scan lens's part of the scorer API:
//
//	GET  /v1/scorecard/scans      findings of a commit's reports against its base branch
//	POST /v1/scan/catalogs/kev    load CISA KEV JSON
//	POST /v1/scan/catalogs/epss   load an EPSS CSV
func (p *Lifecycle) Register(mux server.Router) {
	mux.HandleFunc("GET /v1/scorecard/scans", p.serveScorecard)
	mux.HandleFunc("POST /v1/scan/catalogs/{kind}", p.serveCatalog)
}

// Report is the scoring state of one report.
type Report struct {
	ReportID  string   `json:"report_id"`
	Tools     []string `json:"tools"`
	Parts     uint32   `json:"parts"`
	PartCount uint32   `json:"part_count"`
	Scored    bool     `json:"scored"`
	// Runs are the report's runs: tool, what it covered, whether it failed
	// (a failed run marks nothing fixed).
	Runs []Run `json:"runs"`
}

// Run is one tool's run in a report.
type Run struct {
	Tool   string `json:"tool"`
	Scope  string `json:"scope,omitempty"`
	Failed bool   `json:"failed,omitempty"`
}

// Finding is a finding as the gate sees it.
type Finding struct {
	Fingerprint string `json:"fingerprint"`
	// Key names the real problem, the same across tools; Tool is the first
	// tool that reported it, Sources every tool that reports it.
	Key              string    `json:"key"`
	Tool             string    `json:"tool"`
	Sources          []string  `json:"sources"`
	Reachability     string    `json:"reachability,omitempty"`
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

// Scorecard answers GET /v1/scorecard/scans.
type Scorecard struct {
	// Scored is false until every report is complete and its lifecycle applied.
	Scored   bool      `json:"scored"`
	Reports  []Report  `json:"reports"`
	Findings []Finding `json:"findings"`
}

// serveScorecard compares the findings of a commit's reports (?report=ID,
// repeatable; else the latest report of each tool for ?commit=) with the
// open findings of ?base= (the base branch) in the same repository and service.
func (p *Lifecycle) serveScorecard(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tenant, ok := respond.Tenant(w, q)
	if !ok {
		return
	}
	ids := q["report"]
	if len(ids) == 0 && q.Get("commit") == "" {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: "want report=ID (repeatable) or commit=SHA", Field: "report"})
		return
	}
	card, err := p.scorecard(r.Context(), tenant, ids, q.Get("repo"), q.Get("service"), q.Get("commit"), q.Get("base"))
	if err != nil {
		p.log.Error("scan scorecard", "err", err)
		respond.JSON(w, http.StatusInternalServerError, respond.Error{Error: err.Error()})
		return
	}
	respond.JSON(w, http.StatusOK, card)
}

// serveCatalog loads a KEV JSON or EPSS CSV body.
func (p *Lifecycle) serveCatalog(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, 128<<20)
	var t *evidence.RowTable
	var err error
	switch kind := r.PathValue("kind"); kind {
	case "kev":
		t, err = parseKEV(body, p.now().UTC())
	case "epss":
		t, err = parseEPSS(body, p.now().UTC())
	default:
		respond.JSON(w, http.StatusNotFound, respond.Error{Error: "unknown catalogue " + kind + ": want kev or epss", Field: "kind"})
		return
	}
	if err != nil {
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		respond.JSON(w, status, respond.Error{Error: err.Error(), Field: "body"})
		return
	}
	if err := p.st.Insert(r.Context(), t); err != nil {
		p.log.Error("load catalogue", "err", err)
		respond.JSON(w, http.StatusInternalServerError, respond.Error{Error: err.Error()})
		return
	}
	_, _ = io.Copy(io.Discard, body)
	respond.JSON(w, http.StatusOK, map[string]int{"loaded": t.Len()})
}

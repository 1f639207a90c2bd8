package api

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/trilens/trilens/services/scorer/ledger"
	"github.com/trilens/trilens/services/scorer/respond"
	"github.com/trilens/trilens/services/scorer/vex"
)

// defaultVEXTerm is how long an imported statement waives a finding when
// the request names no expiry: VEX has no expiry, the ledger needs one.
const defaultVEXTerm = 90 * 24 * time.Hour

// serveVEXExport is GET /v1/vex?format=openvex|cyclonedx[&author=]: the
// tenant's active vulnerability waivers and fixed vulnerabilities as a VEX document.
func (p *Handler) serveVEXExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	t, ok := respond.Tenant(w, q)
	if !ok {
		return
	}
	write := vex.WriteOpenVEX
	switch q.Get("format") {
	case "", vex.OpenVEX:
	case vex.CycloneDX:
		write = vex.WriteCycloneDX
	default:
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: "format: want openvex or cyclonedx", Field: "format"})
		return
	}
	ws, err := p.Ledger().View(r.Context(), t)
	if err != nil {
		p.fail(w, "vex", err)
		return
	}
	fixed, err := p.FixedVulnerabilities(r.Context(), t)
	if err != nil {
		p.fail(w, "vex", err)
		return
	}
	author := q.Get("author")
	if author == "" {
		author = "trilens tenant " + t
	}
	var buf bytes.Buffer
	if err := write(&buf, ws, fixed, author, p.Now()); err != nil {
		p.fail(w, "vex", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

// serveVEXImport is POST /v1/vex[?scope=&owner=&expires=|for=]: the
// document's not_affected statements become waivers, owned by owner (else
// the document's author), limited to scope (else the product they name),
// until expires (RFC 3339) or for a duration (default 90 days).
func (p *Handler) serveVEXImport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	t, ok := respond.Tenant(w, q)
	if !ok {
		return
	}
	now := p.Now().UTC().Truncate(time.Second)
	expires, field, err := vexExpiry(q.Get("expires"), q.Get("for"), now)
	if err != nil {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: err.Error(), Field: field})
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
	if err != nil {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: "body: " + err.Error(), Field: "body"})
		return
	}
	author, claims, err := vex.Parse(data)
	if err == nil && q.Get("owner") != "" {
		author = q.Get("owner")
	}
	var ws []ledger.Waiver
	if err == nil {
		ws, err = vex.Waivers(claims, ledger.Waiver{Owner: author, ExpiresAt: expires}, q.Get("scope"))
	}
	if err != nil {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: err.Error(), Field: "body"})
		return
	}
	recorded, err := vex.Import(r.Context(), p.Ledger(), t, ws, actor(r, q.Get("by")), now)
	if err != nil {
		p.fail(w, "vex import", err)
		return
	}
	if recorded == nil {
		recorded = []ledger.Waiver{}
	}
	respond.JSON(w, http.StatusOK, map[string]any{"statements": len(claims), "recorded": recorded})
}

func vexExpiry(at, forDur string, now time.Time) (time.Time, string, error) {
	switch {
	case at != "":
		t, err := time.Parse(time.RFC3339, at)
		if err != nil || !t.After(now) {
			return time.Time{}, "expires", fmt.Errorf("expires: want a future RFC 3339 time, got %q", at)
		}
		return t.UTC(), "", nil
	case forDur != "":
		d, err := ParseSince(forDur)
		if err != nil || d <= 0 {
			return time.Time{}, "for", fmt.Errorf("for: want a duration such as 90d, got %q", forDur)
		}
		return now.Add(d), "", nil
	}
	return now.Add(defaultVEXTerm), "", nil
}

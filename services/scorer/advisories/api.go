package advisories

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/server"
	"github.com/trilens/trilens/services/scorer/respond"
)

// Register mounts the monitor's routes:
//
//	POST /v1/advisories            import OSV records: one JSON record, or a zip of them (admin)
//	GET  /v1/components/who-uses   ?purl=: the services and commits whose SBOMs hold the package (version)
func (m *Monitor) Register(mux server.Router) {
	mux.HandleFunc("POST /v1/advisories", m.serveImport)
	mux.HandleFunc("GET /v1/components/who-uses", m.serveWhoUses)
}

func (m *Monitor) serveImport(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 512<<20))
	var recs []Record
	if err == nil {
		recs, err = readBody(data)
	}
	if err != nil {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: "body: " + err.Error(), Field: "body"})
		return
	}
	res, err := m.Import(r.Context(), recs)
	if err == nil && len(res.New) > 0 {
		// New advisories reach the deployed releases now, not at the next tick.
		err = m.SweepAll(r.Context())
	}
	if err != nil {
		m.log.Error("advisories import", "err", err)
		respond.JSON(w, http.StatusInternalServerError, respond.Error{Error: "advisories import failed"})
		return
	}
	if res.New == nil {
		res.New = []string{}
	}
	respond.JSON(w, http.StatusOK, res)
}

// readBody reads a zip of OSV records or one record.
func readBody(data []byte) ([]Record, error) {
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, err
		}
		return readFS(zr)
	}
	r, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return []Record{r}, nil
}

// Use is a service and commit whose SBOM holds a package version.
type Use struct {
	Repository  string    `json:"repository"`
	Service     string    `json:"service"`
	Branch      string    `json:"branch"`
	Commit      string    `json:"commit"`
	Environment string    `json:"environment"`
	PURL        string    `json:"purl"`
	Version     string    `json:"version"`
	LastSeen    time.Time `json:"last_seen"`
}

// WhoUses lists where the tenant's SBOMs hold purl: that version when the
// purl names one, else every version.
func (m *Monitor) WhoUses(ctx context.Context, tenant, purl string) ([]Use, error) {
	// A versioned purl matches itself with any qualifiers; one without a
	// version matches every version.
	exact := strings.SplitN(purl, "?", 2)[0]
	start := exact + "?"
	if !strings.Contains(exact, "@") {
		start = exact + "@"
	}
	rows, err := m.st.Conn().Query(ctx, `SELECT repository, service, branch, commit, environment, purl, version, max(observed_at)
		FROM `+m.st.Database()+`.components WHERE tenant = ? AND (purl = ? OR substring(purl, 1, length(?)) = ?)
		GROUP BY repository, service, branch, commit, environment, purl, version
		ORDER BY repository, service, max(observed_at) DESC`, tenant, exact, start, start)
	if err != nil {
		return nil, fmt.Errorf("who uses: %w", err)
	}
	defer rows.Close()
	out := []Use{}
	for rows.Next() {
		var u Use
		if err := rows.Scan(&u.Repository, &u.Service, &u.Branch, &u.Commit, &u.Environment, &u.PURL, &u.Version, &u.LastSeen); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func (m *Monitor) serveWhoUses(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	t, ok := respond.Tenant(w, q)
	if !ok {
		return
	}
	if q.Get("purl") == "" {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: "purl: name a package URL", Field: "purl"})
		return
	}
	uses, err := m.WhoUses(r.Context(), t, q.Get("purl"))
	if err != nil {
		m.log.Error("who uses", "err", err)
		respond.JSON(w, http.StatusInternalServerError, respond.Error{Error: "who uses failed"})
		return
	}
	respond.JSON(w, http.StatusOK, map[string]any{"purl": q.Get("purl"), "uses": uses})
}

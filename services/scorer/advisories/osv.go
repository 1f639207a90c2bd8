// Package advisories watches stored SBOMs for vulnerabilities published
// after the scan: it imports advisories in OSV format (incremental and
// idempotent), matches them on every sweep against every component version
// the SBOMs stored, and raises what matches as findings of the release
// that holds the component, through the scan lens like any scanner's
// report; and it answers which services and releases use a package.
package advisories

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Record is the part of an OSV record (https://ossf.github.io/osv-schema/)
// the matching reads; the record itself is stored whole.
type Record struct {
	ID               string     `json:"id"`
	Modified         time.Time  `json:"modified"`
	Withdrawn        *time.Time `json:"withdrawn,omitempty"`
	Aliases          []string   `json:"aliases"`
	Summary          string     `json:"summary"`
	Affected         []Affected `json:"affected"`
	DatabaseSpecific struct {
		Severity string `json:"severity"`
	} `json:"database_specific"`
	raw []byte
}

// Affected is one package an advisory affects, by ranges or versions.
type Affected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
		PURL      string `json:"purl"`
	} `json:"package"`
	Ranges []struct {
		Type   string  `json:"type"`
		Events []Event `json:"events"`
	} `json:"ranges"`
	Versions []string `json:"versions"`
}

// Event is one boundary of an OSV range.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Parse reads one OSV record.
func Parse(data []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return r, err
	}
	if r.ID == "" || r.Modified.IsZero() {
		return r, fmt.Errorf("not an OSV record: no id or modified")
	}
	r.raw = data
	return r, nil
}

// Read reads the OSV records of an export: a directory (walked, every
// .json file one record) or a zip archive, as osv.dev publishes per ecosystem.
func Read(path string) ([]Record, error) {
	if strings.HasSuffix(strings.ToLower(path), ".zip") {
		zr, err := zip.OpenReader(path)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		return readFS(zr)
	}
	return readFS(os.DirFS(path))
}

func readFS(fsys fs.FS) ([]Record, error) {
	var out []Record
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".json" {
			return err
		}
		f, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, 16<<20))
		if err != nil {
			return err
		}
		r, err := Parse(data)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

package scan

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/trilens/trilens/services/scorer/evidence"
)

// Exploit catalogues users load with `trilens scan catalog`: CISA's Known
// Exploited Vulnerabilities JSON and FIRST's EPSS CSV. Both are read whole
// (a few MB) and stored as rows of scan_kev and scan_epss.

type kevEntry struct {
	CVE        string `json:"cveID"`
	Vendor     string `json:"vendorProject"`
	Product    string `json:"product"`
	Name       string `json:"vulnerabilityName"`
	DateAdded  string `json:"dateAdded"`
	DueDate    string `json:"dueDate"`
	Ransomware string `json:"knownRansomwareCampaignUse"`
}

// parseKEV reads the KEV catalogue (known_exploited_vulnerabilities.json).
func parseKEV(r io.Reader, loaded time.Time) (*evidence.RowTable, error) {
	var doc struct {
		Vulnerabilities []kevEntry `json:"vulnerabilities"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("KEV catalogue: want CISA's known_exploited_vulnerabilities.json: %w", err)
	}
	if doc.Vulnerabilities == nil {
		return nil, errors.New(`KEV catalogue: no "vulnerabilities" array`)
	}
	t := &evidence.RowTable{Table: "scan_kev", Cols: []string{"cve", "vendor", "product", "name", "date_added", "due_date", "ransomware", "loaded_at"}}
	for i, v := range doc.Vulnerabilities {
		added, err := time.Parse(time.DateOnly, v.DateAdded)
		if err != nil || !strings.HasPrefix(v.CVE, "CVE-") {
			return nil, fmt.Errorf("KEV catalogue: vulnerabilities[%d]: want cveID CVE-... and dateAdded YYYY-MM-DD, got %q, %q", i, v.CVE, v.DateAdded)
		}
		due, err := time.Parse(time.DateOnly, v.DueDate)
		if err != nil {
			due = added
		}
		t.Rows = append(t.Rows, []any{v.CVE, v.Vendor, v.Product, v.Name, added, due, v.Ransomware, loaded})
	}
	return t, nil
}

// parseEPSS reads an EPSS scores CSV: an optional "#model_version:...,score_date:..."
// line, then "cve,epss,percentile".
func parseEPSS(r io.Reader, loaded time.Time) (*evidence.RowTable, error) {
	cr := csv.NewReader(r)
	cr.Comment = 0
	cr.FieldsPerRecord = -1
	t := &evidence.RowTable{Table: "scan_epss", Cols: []string{"cve", "epss", "percentile", "score_date", "loaded_at"}}
	scoreDate := loaded.Truncate(24 * time.Hour)
	header := false
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("EPSS CSV: %w", err)
		}
		if strings.HasPrefix(rec[0], "#") {
			for _, f := range rec {
				if d, ok := strings.CutPrefix(f, "score_date:"); ok {
					if ts, err := time.Parse(time.RFC3339, d); err == nil {
						scoreDate = ts
					} else if ts, err := time.Parse(time.DateOnly, d[:min(len(d), 10)]); err == nil {
						scoreDate = ts
					}
				}
			}
			continue
		}
		if !header {
			if len(rec) < 3 || rec[0] != "cve" || rec[1] != "epss" {
				return nil, fmt.Errorf("EPSS CSV line %d: want the header cve,epss,percentile", line)
			}
			header = true
			continue
		}
		if len(rec) < 3 {
			return nil, fmt.Errorf("EPSS CSV line %d: want 3 fields", line)
		}
		epss, err1 := strconv.ParseFloat(rec[1], 64)
		pct, err2 := strconv.ParseFloat(rec[2], 64)
		if err1 != nil || err2 != nil || !strings.HasPrefix(rec[0], "CVE-") {
			return nil, fmt.Errorf("EPSS CSV line %d: want CVE-...,probability,percentile", line)
		}
		t.Rows = append(t.Rows, []any{rec[0], epss, pct, scoreDate, loaded})
	}
	if !header {
		return nil, errors.New("EPSS CSV: no cve,epss,percentile header")
	}
	return t, nil
}

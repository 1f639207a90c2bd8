package scancollector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Formats the collector accepts, by the name clients may give in ?format=.
const (
	FormatSARIF       = "sarif"
	FormatTrivy       = "trivy"
	FormatGrype       = "grype"
	FormatGitleaks    = "gitleaks"
	FormatGovulncheck = "govulncheck"
	FormatZAP         = "zap"
)

// Formats lists them in the order errors name them.
var Formats = []string{FormatSARIF, FormatTrivy, FormatGrype, FormatGitleaks, FormatGovulncheck, FormatZAP}

var decoders = map[string]func(r io.Reader, maxFindings int) (*Report, error){
	FormatSARIF:       decodeSARIF,
	FormatTrivy:       decodeTrivy,
	FormatGrype:       decodeGrype,
	FormatGitleaks:    decodeGitleaks,
	FormatGovulncheck: decodeGovulncheck,
	FormatZAP:         decodeZAP,
}

// expected says what each format looks like, for errors.
const expected = "want SARIF 2.1.0, Trivy JSON, Grype JSON, gitleaks JSON, govulncheck -json or OWASP ZAP JSON"

// Detect names the format of a document from its first bytes: the keys of
// its top-level object (or that it is an array, for gitleaks). It needs only
// a prefix, so a large document is never read twice.
func Detect(prefix []byte) (string, error) {
	d := json.NewDecoder(bytes.NewReader(prefix))
	tok, err := d.Token()
	if err != nil {
		return "", fmt.Errorf("not JSON (%v): %s", err, expected)
	}
	switch tok {
	case json.Delim('['):
		return FormatGitleaks, nil
	case json.Delim('{'):
	default:
		return "", fmt.Errorf("a JSON document starting with %v: %s", tok, expected)
	}
	// Collect the top-level keys the prefix holds, skipping their values.
	var keys []string
	depth := 1
	wantKey := true
	for depth > 0 {
		tok, err := d.Token()
		if err != nil {
			break // end of the prefix
		}
		if depth == 1 && wantKey {
			k, _ := tok.(string)
			keys = append(keys, k)
			wantKey = false
			// A key's value may be huge; the first key often decides already.
			if f := formatFromKeys(keys, prefix); f != "" {
				return f, nil
			}
			continue
		}
		if delim, ok := tok.(json.Delim); ok {
			if delim == '{' || delim == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 1 {
			wantKey = true
		}
	}
	if f := formatFromKeys(keys, prefix); f != "" {
		return f, nil
	}
	return "", fmt.Errorf("unknown JSON object with keys %s: %s", strings.Join(keys, ", "), expected)
}

func formatFromKeys(keys []string, prefix []byte) string {
	has := func(k string) bool { return slices.Contains(keys, k) }
	switch {
	case has("runs") || has("$schema") && bytes.Contains(bytes.ToLower(prefix), []byte("sarif")):
		return FormatSARIF
	case has("SchemaVersion") || has("ArtifactName"):
		return FormatTrivy
	case has("matches"):
		return FormatGrype
	case has("config") || has("progress") || has("osv") || has("finding"):
		return FormatGovulncheck
	case has("@programName") || has("site"):
		return FormatZAP
	}
	return ""
}

// Decode reads a whole document of a format into a Report of at most
// maxFindings findings (ErrTooManyFindings past that).
func Decode(format string, r io.Reader, maxFindings int) (*Report, error) {
	dec, ok := decoders[format]
	if !ok {
		return nil, fmt.Errorf("unknown format %q: want one of %s", format, strings.Join(Formats, ", "))
	}
	return dec(r, maxFindings)
}

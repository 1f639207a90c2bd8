package scancollector

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"path/filepath"
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

// Formats lists them in the order detection tries them.
var Formats = []string{FormatSARIF, FormatTrivy, FormatGrype, FormatGitleaks, FormatGovulncheck, FormatZAP}

var decoders = map[string]func(r io.Reader, maxFindings int) (*Report, error){
	FormatSARIF:       decodeSARIF,
	FormatTrivy:       decodeTrivy,
	FormatGrype:       decodeGrype,
	FormatGitleaks:    decodeGitleaks,
	FormatGovulncheck: decodeGovulncheck,
	FormatZAP:         decodeZAP,
}

// shape is what detection saw of a document's first bytes: its kind and the
// keys that tell formats apart.
type shape struct {
	kind string   // object, array, xml, null, empty (no document), or a JSON scalar's kind
	keys []string // an object's top-level keys, or an array's first element's keys
	elem string   // an array's first element kind: object, end (empty array), ...
	root string   // an XML document's root element
	// sarifSchema: the object's "$schema" names SARIF.
	sarifSchema bool
}

func (s *shape) has(keys ...string) bool {
	for _, k := range keys {
		if slices.Contains(s.keys, k) {
			return true
		}
	}
	return false
}

func (s *shape) objects() bool { return s.kind == "object" }
func (s *shape) arrayOfObjects() bool {
	return s.kind == "array" && s.elem == "object"
}

// String describes the shape for errors: what was seen instead.
func (s *shape) String() string {
	keys := func() string {
		if len(s.keys) == 0 {
			return "no keys"
		}
		q := make([]string, 0, min(len(s.keys), 12))
		for _, k := range s.keys[:min(len(s.keys), 12)] {
			q = append(q, fmt.Sprintf("%q", truncate(k, 40)))
		}
		if len(s.keys) > 12 {
			q = append(q, "...")
		}
		return "keys " + strings.Join(q, ", ")
	}
	switch s.kind {
	case "object":
		return "a JSON object with " + keys()
	case "array":
		switch s.elem {
		case "object":
			return "a JSON array of objects with " + keys()
		case "end":
			return "an empty JSON array"
		}
		return "a JSON array of " + s.elem
	case "xml":
		return fmt.Sprintf("an XML document with root <%s>", s.root)
	case "null":
		return "JSON null"
	case "empty":
		return "an empty body"
	}
	return s.kind
}

// formatRule says what identifies a format, for detection and for the
// answer when nothing matches.
type formatRule struct {
	format string
	want   string
	match  func(*shape) bool
}

var formatRules = []formatRule{
	{FormatSARIF, `a JSON object with "runs" (SARIF 2.1.0)`, func(s *shape) bool {
		return s.objects() && (s.has("runs") || s.sarifSchema)
	}},
	{FormatTrivy, `a JSON object with "SchemaVersion" or "ArtifactName" (trivy -f json), "ClusterName" (trivy k8s), or an array of results with "Target" (trivy before 0.20)`, func(s *shape) bool {
		return s.objects() && s.has("SchemaVersion", "ArtifactName", "ClusterName") ||
			s.arrayOfObjects() && s.has("Target") && s.has("Vulnerabilities", "Type", "Class", "Misconfigurations", "Secrets")
	}},
	{FormatGrype, `a JSON object with "matches" (grype -o json)`, func(s *shape) bool {
		return s.objects() && s.has("matches")
	}},
	{FormatGitleaks, `a JSON array of leaks with "RuleID" (gitleaks 8) or "rule" and "offender" (gitleaks 7)`, func(s *shape) bool {
		return s.arrayOfObjects() && (s.has("RuleID") || s.has("rule") && s.has("offender"))
	}},
	{FormatGovulncheck, `"config", "progress", "SBOM", "osv" or "finding" messages (govulncheck -json), one after another or in an array, or an object with "Vulns" (govulncheck before 1.0)`, func(s *shape) bool {
		msg := s.has("config", "progress", "SBOM", "osv", "finding")
		return s.objects() && (msg || s.has("Vulns")) || s.arrayOfObjects() && msg
	}},
	{FormatZAP, `<OWASPZAPReport> (ZAP XML report), a JSON object with "site" or "@programName" (ZAP JSON report), or ZAP API alerts with "pluginId" and "risk", as an array or under "alerts"`, func(s *shape) bool {
		return s.kind == "xml" && s.root == "OWASPZAPReport" ||
			s.objects() && (s.has("site", "@programName") || s.has("alerts") && !s.has("runs")) ||
			s.arrayOfObjects() && s.has("pluginId") && s.has("risk", "riskcode")
	}},
}

// Rejection is why one format did not match.
type Rejection struct {
	Format string `json:"format"`
	Reason string `json:"reason"`
}

// UnknownFormatError names every format tried and why each was rejected.
type UnknownFormatError struct {
	Seen  string      `json:"seen"`
	Tried []Rejection `json:"tried"`
	// Empty: the document is an empty report (null, [] or nothing), which
	// only a name can attribute to a tool.
	Empty bool `json:"-"`
}

func (e *UnknownFormatError) Error() string {
	parts := make([]string, len(e.Tried))
	for i, r := range e.Tried {
		parts[i] = r.Format + ": " + r.Reason
	}
	return fmt.Sprintf("no format matches %s (give ?format= to name one); tried %s", e.Seen, strings.Join(parts, "; "))
}

func unknown(s *shape, why string) *UnknownFormatError {
	e := &UnknownFormatError{Seen: s.String()}
	for _, r := range formatRules {
		reason := "want " + r.want
		if why != "" {
			reason = why
		}
		e.Tried = append(e.Tried, Rejection{Format: r.format, Reason: reason})
	}
	return e
}

// Detect names the format of a document from its first bytes, by the keys
// (or XML root) that identify each format, never by the mere kind of
// document. It needs only a prefix, so a large document is never read twice.
// When nothing matches, the error is an *UnknownFormatError.
func Detect(prefix []byte) (string, error) {
	s := sniff(prefix)
	switch {
	case s.kind == "empty" || s.kind == "null" || s.kind == "array" && s.elem == "end":
		e := unknown(s, "an empty report names no tool: give ?format= or a name= containing the tool's name (gitleaks, trivy, govulncheck and zap read it as a complete report with no findings)")
		e.Empty = true
		return "", e
	}
	for _, r := range formatRules {
		if r.match(s) {
			return r.format, nil
		}
	}
	return "", unknown(s, "")
}

// sniff reads the shape of a document from its prefix.
func sniff(prefix []byte) *shape {
	b := bytes.TrimLeft(bytes.TrimPrefix(prefix, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(b) == 0 {
		return &shape{kind: "empty"}
	}
	if b[0] == '<' {
		return sniffXML(b)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	tok, err := d.Token()
	if err != nil {
		return &shape{kind: fmt.Sprintf("neither JSON nor XML (%v)", err)}
	}
	switch tok {
	case json.Delim('{'):
		s := &shape{kind: "object"}
		s.keys = objectKeys(d, func(key string) {
			if key == "$schema" {
				var v string
				if d.Decode(&v) == nil && strings.Contains(strings.ToLower(v), "sarif") {
					s.sarifSchema = true
				}
			}
		})
		return s
	case json.Delim('['):
		s := &shape{kind: "array"}
		tok, err := d.Token()
		switch {
		case err != nil:
			s.elem = "nothing readable"
		case tok == json.Delim('{'):
			s.elem = "object"
			s.keys = objectKeys(d, nil)
		case tok == json.Delim(']'):
			s.elem = "end"
		default:
			s.elem = jsonKind(tok)
		}
		return s
	case nil:
		return &shape{kind: "null"}
	}
	return &shape{kind: "a JSON " + jsonKind(tok)}
}

// objectKeys collects the keys of the object whose '{' was just read, as far
// as the prefix goes, skipping their values. onKey may consume a value; then
// it must consume all of it.
func objectKeys(d *json.Decoder, onKey func(string)) []string {
	var keys []string
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			break
		}
		k, _ := tok.(string)
		keys = append(keys, k)
		before := d.InputOffset()
		if onKey != nil {
			onKey(k)
		}
		if d.InputOffset() != before {
			continue
		}
		if err := skipValue(d); err != nil {
			break // the end of the prefix
		}
	}
	return keys
}

// skipValue consumes one JSON value token by token (no recursion, so deep
// nesting cannot exhaust the stack).
func skipValue(d *json.Decoder) error {
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		if delim, ok := tok.(json.Delim); ok {
			if delim == '{' || delim == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

func jsonKind(tok json.Token) string {
	switch tok.(type) {
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "value"
}

// sniffXML finds the root element, past any declaration, comment or doctype.
func sniffXML(b []byte) *shape {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	for {
		tok, err := d.RawToken()
		if err != nil {
			return &shape{kind: fmt.Sprintf("XML without a root element (%v)", err)}
		}
		if se, ok := tok.(xml.StartElement); ok {
			return &shape{kind: "xml", root: se.Name.Local}
		}
	}
}

// emptyFormats read an empty report as a complete one with no findings.
var emptyFormats = []string{FormatGitleaks, FormatTrivy, FormatGovulncheck, FormatZAP}

// FormatFromName attributes an empty report by its file name
// ("gitleaks-report.json"): the one tool that reads empty reports it names.
func FormatFromName(name string) (string, bool) {
	name = strings.ToLower(filepath.Base(name))
	found := ""
	for _, f := range emptyFormats {
		if strings.Contains(name, f) {
			if found != "" {
				return "", false
			}
			found = f
		}
	}
	return found, found != ""
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

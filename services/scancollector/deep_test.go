package scancollector

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/trilens/trilens/services/scancollector/internal/jsonstream"
	"github.com/trilens/trilens/services/scancollector/internal/xmlstream"
)

// deepDocs are documents nested far past the decoders' limit (10000
// levels), in every place a decoder reads: skipped values, decoded values,
// top-level arrays and XML elements.
func deepDocs() map[string]struct {
	format string
	doc    []byte
} {
	const n = 200_000
	open, closeA := strings.Repeat("[", n), strings.Repeat("]", n)
	obj := strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n)
	xmlDeep := strings.Repeat("<a>", n) + strings.Repeat("</a>", n)
	type d = struct {
		format string
		doc    []byte
	}
	return map[string]d{
		"sarif skipped value":         {FormatSARIF, []byte(`{"version":"2.1.0","extra":` + open + closeA + `,"runs":[]}`)},
		"sarif result":                {FormatSARIF, []byte(`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"r","properties":` + obj + `}]}]}`)},
		"trivy results":               {FormatTrivy, []byte(`{"SchemaVersion":2,"Results":[{"Target":"t","Extra":` + open + closeA + `}]}`)},
		"trivy legacy array":          {FormatTrivy, []byte(open + closeA)},
		"grype match":                 {FormatGrype, []byte(`{"matches":[{"vulnerability":` + obj + `}]}`)},
		"gitleaks array":              {FormatGitleaks, []byte(open + closeA)},
		"govulncheck message":         {FormatGovulncheck, []byte(`{"config":{"scanner_name":"govulncheck"}}{"progress":` + obj + `}`)},
		"govulncheck array":           {FormatGovulncheck, []byte(open + closeA)},
		"zap json":                    {FormatZAP, []byte(`{"@version":"2.14","site":[{"alerts":[{"riskcode":"1","instances":` + open + closeA + `}]}]}`)},
		"zap xml report":              {FormatZAP, []byte(`<?xml version="1.0"?><OWASPZAPReport version="2.14">` + xmlDeep + `</OWASPZAPReport>`)},
		"zap xml alert":               {FormatZAP, []byte(`<OWASPZAPReport version="2.14"><site name="s"><alerts><alertitem><riskcode>1</riskcode>` + xmlDeep + `</alertitem></alerts></site></OWASPZAPReport>`)},
		"zap xml unclosed":            {FormatZAP, []byte(`<OWASPZAPReport version="2.14">` + strings.Repeat("<a>", n))},
		"zap api list":                {FormatZAP, []byte(`[{"pluginId":"1","risk":"Low","url":` + obj + `}]`)},
		"gitleaks unterminated array": {FormatGitleaks, []byte(open)},
	}
}

// Attack: deeply nested documents. Each is refused with an error naming the
// nesting or the place of the failure; none crashes the decoder or is
// published.
func TestDeepNestingIsRefused(t *testing.T) {
	refused := 0
	for name, tc := range deepDocs() {
		rep, err := Decode(tc.format, bytes.NewReader(tc.doc), 0)
		if err == nil {
			t.Errorf("%s: accepted %d findings from a document nested 200000 deep", name, rep.Count())
			continue
		}
		// The nesting itself, or (for a nested top-level array) the shape.
		if !errors.Is(err, jsonstream.ErrTooDeep) && !errors.Is(err, xmlstream.ErrTooDeep) &&
			!strings.Contains(err.Error(), "exceeded max depth") && !strings.Contains(err.Error(), "unexpected EOF") &&
			!strings.Contains(err.Error(), `want an object, got "["`) {
			t.Errorf("%s: %v, want an error about the nesting", name, err)
		}
		t.Logf("%s: %.160s", name, err)
		refused++
	}
	t.Logf("refused %d deeply nested documents", refused)

	// Through HTTP: refused with a 4xx, nothing published.
	e := newEnv(t, nil)
	for name, tc := range deepDocs() {
		code, body := e.post(t, bytes.NewReader(tc.doc), "format="+tc.format, nil)
		if code < 400 || code >= 500 {
			t.Errorf("%s: %d %s, want a 4xx", name, code, body)
		}
		// Detection reads only a prefix of the same document: it must not fail either.
		if code, body := e.post(t, bytes.NewReader(tc.doc), "", nil); code < 400 || code >= 500 {
			t.Errorf("%s, detected: %d %s, want a 4xx", name, code, body)
		}
	}
	if n := len(e.events(t)); n != 0 {
		t.Fatalf("%d events published from deeply nested documents", n)
	}
}

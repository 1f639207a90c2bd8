package scancollector

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"google.golang.org/protobuf/proto"
)

// fuzzDecoder checks that a decoder never panics, and that what it accepts
// is publishable: every finding marshals and has a fingerprint. Seeds are
// the fixtures of the format plus truncated and mangled copies.
func fuzzDecoder(f *testing.F, format string) {
	for name, fm := range fixtures {
		if fm != format {
			continue
		}
		doc, err := os.ReadFile(filepath.Join("testdata", "reports", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(doc)
		f.Add(doc[:len(doc)/2])
		f.Add(bytes.ReplaceAll(doc, []byte(`"`), []byte(`'`)))
	}
	// Real reports of the format (the small ones), and deeply nested documents.
	for name, want := range realCorpus(f) {
		if want.Format != format {
			continue
		}
		if doc, err := os.ReadFile(filepath.Join("testdata", "real", name)); err == nil && len(doc) < 16<<10 {
			f.Add(doc)
		}
	}
	for _, tc := range deepDocs() {
		if tc.format == format {
			f.Add(tc.doc[:min(len(tc.doc), 64<<10)])
		}
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, doc []byte) {
		rep, err := Decode(format, bytes.NewReader(doc), 10_000)
		if err != nil {
			return
		}
		for _, run := range rep.Runs {
			b := &scanv1.FindingBatch{Tool: run.Tool, Findings: run.Findings}
			if _, err := proto.Marshal(b); err != nil {
				t.Fatalf("accepted findings do not marshal: %v", err)
			}
			for _, fd := range run.Findings {
				if fd.Fingerprint == "" {
					t.Fatalf("finding without fingerprint: %v", fd)
				}
			}
		}
	})
}

func FuzzSARIF(f *testing.F)       { fuzzDecoder(f, FormatSARIF) }
func FuzzTrivy(f *testing.F)       { fuzzDecoder(f, FormatTrivy) }
func FuzzGrype(f *testing.F)       { fuzzDecoder(f, FormatGrype) }
func FuzzGitleaks(f *testing.F)    { fuzzDecoder(f, FormatGitleaks) }
func FuzzGovulncheck(f *testing.F) { fuzzDecoder(f, FormatGovulncheck) }
func FuzzZAP(f *testing.F)         { fuzzDecoder(f, FormatZAP) }

func FuzzDetect(f *testing.F) {
	for name := range fixtures {
		if doc, err := os.ReadFile(filepath.Join("testdata", "reports", name)); err == nil {
			f.Add(doc[:min(len(doc), 512)])
		}
	}
	f.Add([]byte(`{"foo":[1,2,{"bar":3}],"runs":`))
	f.Add([]byte("<!-- ZAP -->\n<?xml version=\"1.0\"?><OWASPZAPReport version=\"2.16.0\">"))
	for _, tc := range deepDocs() {
		f.Add(tc.doc[:min(len(tc.doc), 4<<10)])
	}
	f.Fuzz(func(t *testing.T, prefix []byte) {
		if format, err := Detect(prefix); err == nil {
			if _, ok := decoders[format]; !ok {
				t.Fatalf("Detect returned unknown format %q", format)
			}
		}
	})
}

package sbomcollector

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/trilens/trilens/services/sbomcollector/generate"
)

// TestDecodeWhatSyftGenerates runs syft (the library) on the testdata
// projects in every format and checks that the decoder finds exactly the
// packages syft reports, with the same purls whatever the format.
func TestDecodeWhatSyftGenerates(t *testing.T) {
	for _, project := range []string{"gomod", "npm"} {
		t.Run(project, func(t *testing.T) {
			var purls [][]string
			for _, opts := range []generate.Options{
				{Format: generate.SyftJSON},
				{Format: generate.CycloneDXJSON, Version: "1.4"},
				{Format: generate.CycloneDXJSON, Version: "1.5"},
				{Format: generate.CycloneDXJSON, Version: "1.6"},
				{Format: generate.CycloneDXJSON}, // syft's default, 1.7
				{Format: generate.SPDXJSON, Version: "2.3"},
			} {
				format := opts.Format + opts.Version
				var buf bytes.Buffer
				res, err := generate.Generate(context.Background(), filepath.Join("testdata", "projects", project), &buf, opts)
				if err != nil {
					t.Fatal(err)
				}
				if res.Packages < 5 {
					t.Fatalf("%s: syft found only %d packages", format, res.Packages)
				}
				doc, err := Decode(&buf)
				if err != nil {
					t.Fatalf("%s: %v", format, err)
				}
				if len(doc.Components) != res.Packages {
					t.Errorf("%s: decoded %d components, syft reports %d packages", format, len(doc.Components), res.Packages)
				}
				if want := project == "npm"; doc.LockfilePresent != want {
					t.Errorf("%s: lockfile present %v, want %v (locations %q)", format, doc.LockfilePresent, want, doc.Components[1].Location)
				}
				if doc.Tool != "syft" || doc.ArtifactName == "" {
					t.Errorf("%s: tool %q artifact %q", format, doc.Tool, doc.ArtifactName)
				}
				var ps []string
				for _, c := range doc.Components {
					if c.Purl == "" || c.Name == "" || c.Type == "" {
						t.Errorf("%s: incomplete component %v", format, c)
					}
					ps = append(ps, c.Purl)
				}
				slices.Sort(ps)
				purls = append(purls, ps)
			}
			for i := 1; i < len(purls); i++ {
				if !slices.Equal(purls[0], purls[i]) {
					t.Errorf("format %d disagrees with syft JSON on purls (%d vs %d)", i, len(purls[i]), len(purls[0]))
				}
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"empty":           {"", "empty document"},
		"array":           {"[]", "invalid JSON"},
		"truncated":       {`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"name":"a"`, "invalid JSON"},
		"trailing":        {`{"bomFormat":"CycloneDX","specVersion":"1.5"} {}`, "data after the top-level object"},
		"unknown":         {`{"hello":"world"}`, "not a CycloneDX JSON, SPDX JSON or tag-value, or syft JSON document"},
		"cyclonedx 1.1":   {`{"bomFormat":"CycloneDX","specVersion":"1.1","components":[]}`, `CycloneDX "1.1" is not supported, want 1.2 to 1.7`},
		"not cyclonedx":   {`{"bomFormat":"Other","specVersion":"1.5"}`, `bomFormat: want "CycloneDX"`},
		"spdx 2.0":        {`{"spdxVersion":"SPDX-2.0","packages":[]}`, `"SPDX-2.0" is not supported, want SPDX-2.1 to SPDX-2.3`},
		"spdx 2.0 tv":     {"SPDXVersion: SPDX-2.0\nDataLicense: CC0-1.0\n", "SPDX tag-value"},
		"text":            {"hello world", "not a CycloneDX JSON, SPDX JSON or tag-value, or syft JSON document"},
		"xml":             {`<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.4"/>`, "XML documents (CycloneDX XML, SPDX RDF) are not supported"},
		"syft no schema":  {`{"artifacts":[]}`, "schema.version"},
		"mixed":           {`{"bomFormat":"CycloneDX","packages":[]}`, `key "packages" is spdx but the document is cyclonedx`},
		"components type": {`{"bomFormat":"CycloneDX","specVersion":"1.5","components":{}}`, "components: want an array"},
		"component type":  {`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"name":5}]}`, "components:"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.doc))
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(de.Msg, tc.want) {
				t.Fatalf("want a DecodeError with %q, got %v", tc.want, err)
			}
		})
	}
}

func TestPinned(t *testing.T) {
	for _, tc := range []struct {
		version, constraint, purl string
		pinned                    bool
		why                       string
	}{
		{"1.2.3", "", "pkg:npm/a@1.2.3", true, ""},
		{"v0.0.0-20231012003039-104605ab7028", "", "pkg:golang/x@v0.0.0-20231012003039-104605ab7028", true, ""},
		{"", "", "", true, ""},
		{"^4.17.21", "", "", false, "^4.17.21"},
		{"latest", "", "", false, "latest"},
		{"1.x", "", "", false, "1.x"},
		{"[1.0,2.0)", "", "", false, "[1.0,2.0)"},
		{"2.31.0", ">=2.0", "", false, ">=2.0"},
		{"2.31.0", "==2.31.0", "", true, "==2.31.0"},
		{"sha256:abc", "", "pkg:oci/app@sha256:abc?tag=latest", false, "latest"},
		{"sha256:abc", "", "pkg:oci/app@sha256:abc?tag=1.0", true, ""},
	} {
		p, why := pinned(tc.version, tc.constraint, tc.purl)
		if p != tc.pinned || why != tc.why {
			t.Errorf("pinned(%q, %q, %q) = %v, %q; want %v, %q", tc.version, tc.constraint, tc.purl, p, why, tc.pinned, tc.why)
		}
	}
}

func TestNormalizeRepo(t *testing.T) {
	for in, want := range map[string]string{
		"git+https://github.com/Acme/Shop@refs/heads/main": "github.com/acme/shop",
		"https://github.com/acme/shop.git":                 "github.com/acme/shop",
		"git@github.com:acme/shop.git":                     "github.com/acme/shop",
		"github.com/acme/shop/":                            "github.com/acme/shop",
		"ssh://git@github.com/acme/shop":                   "github.com/acme/shop",
	} {
		if got := normalizeRepo(in); got != want {
			t.Errorf("normalizeRepo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeTellsReaderFailuresFromBadDocuments(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := Decode(io.MultiReader(strings.NewReader(`{"bomFormat":"CycloneDX","components":[`), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) {
		t.Fatalf("want the reader's error, got %v", err)
	}
	var de *DecodeError
	if _, err := Decode(strings.NewReader(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"licenses":[{"license":"x"}]}]}`)); !errors.As(err, &de) {
		t.Fatalf("a library unmarshaler's error must be a DecodeError, got %T %v", err, err)
	}
}

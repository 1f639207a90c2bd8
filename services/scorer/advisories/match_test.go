package advisories

import (
	"os"
	"testing"
)

// TestAffectsRealRanges: the ranges of real Go advisories, read with the
// Go ecosystem's semantic versions: two introduced/fixed pairs for the
// standard library, one for x/net; purls name the packages as OSV does.
func TestAffectsRealRanges(t *testing.T) {
	data, err := os.ReadFile("testdata/real/Go/GO-2022-1144.json")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		purl, version string
		want          bool
		fixed         string
	}{
		{"pkg:golang/stdlib@v1.18.8", "", true, "1.18.9"},
		{"pkg:golang/stdlib@1.18.9", "", false, ""},
		{"pkg:golang/stdlib@1.19.3", "", true, "1.19.4"},
		{"pkg:golang/stdlib@1.19.4", "", false, ""},
		{"pkg:golang/golang.org/x/net@v0.3.0", "", true, "0.4.0"},
		{"pkg:golang/golang.org/x/net", "v0.4.0", false, ""},
		{"pkg:golang/golang.org/x/text@v0.3.0", "", false, ""},
		{"pkg:npm/stdlib@1.0.0", "", false, ""},
	} {
		pkg, ok := PackageOf(c.purl, c.version)
		if !ok {
			t.Fatalf("%s: no OSV package", c.purl)
		}
		if got, fixed := rec.Affects(pkg); got != c.want || fixed != c.fixed {
			t.Errorf("%s %s: affected %v fixed %q, want %v %q", c.purl, c.version, got, fixed, c.want, c.fixed)
		}
	}
	if _, ok := PackageOf("pkg:generic/thing@1", ""); ok {
		t.Error("a generic purl has no OSV ecosystem")
	}
	recs, err := Read("testdata/real")
	if err != nil || len(recs) != 3 {
		t.Fatalf("Read: %d records, %v", len(recs), err)
	}
}

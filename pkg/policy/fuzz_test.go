package policy

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: any input either parses into a policy that validates, or fails
// with diagnostics only; it never panics.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	files = append(files, "../../trilens.yaml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if p != nil {
				t.Fatal("policy returned with an error")
			}
			joined, ok := err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("not joined: %T", err)
			}
			for _, e := range joined.Unwrap() {
				var d *Diagnostic
				if !errors.As(e, &d) {
					t.Fatalf("not a *Diagnostic: %T %v", e, e)
				}
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed policy does not validate: %v", err)
		}
	})
}

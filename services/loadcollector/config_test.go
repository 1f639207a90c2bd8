package loadcollector

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Each file under testdata/config decodes over the flag defaults (unknown
// keys are errors) and then validates; invalid files must fail naming the key.
func TestConfigFiles(t *testing.T) {
	for file, want := range map[string]string{
		"valid.yaml":       "",
		"bad-knee.yaml":    "steps.knee_efficiency",
		"unknown-key.yaml": "min_secs",
	} {
		t.Run(file, func(t *testing.T) {
			var c Config
			c.RegisterFlags("", flag.NewFlagSet("t", flag.ContinueOnError))
			raw, err := os.ReadFile(filepath.Join("testdata", "config", file))
			if err != nil {
				t.Fatal(err)
			}
			dec := yaml.NewDecoder(bytes.NewReader(raw))
			dec.KnownFields(true)
			err = dec.Decode(&c)
			if err == nil {
				err = c.Validate()
			}
			if want == "" {
				if err != nil {
					t.Fatal(err)
				}
				exp := Config{Steps: StepOptions{MinSeconds: 5, KneeEfficiency: 0.4, SaturationRatio: 2}, StoreDocuments: true, MaxDocumentBytes: 1 << 20}
				if c != exp {
					t.Errorf("decoded %+v, want %+v", c, exp)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want one naming %s", err, want)
			}
		})
	}
}

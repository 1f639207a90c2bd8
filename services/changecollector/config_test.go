package changecollector

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestSecretsNeverShown(t *testing.T) {
	var cfg Config
	if err := yaml.Unmarshal([]byte("webhook_secrets:\n  acme: {github: gh-s3cret, gitlab: gl-s3cret}\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Secrets["acme"].GitHub != "gh-s3cret" {
		t.Fatalf("secret not read: %+v", cfg.Secrets)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "secrets", cfg.Secrets["acme"].GitHub, "all", cfg.Secrets)
	y, _ := yaml.Marshal(cfg)
	j, _ := json.Marshal(cfg)
	for name, out := range map[string]string{"yaml": string(y), "json": string(j), "log": logged.String(), "fmt": fmt.Sprintf("%v %+v", cfg, cfg)} {
		if strings.Contains(out, "s3cret") || !strings.Contains(out, "REDACTED") {
			t.Errorf("%s shows the secret or no placeholder: %s", name, out)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	var cfg Config
	cfg.RegisterFlags("", flag.NewFlagSet("", flag.ContinueOnError))
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cfg.MaxDepth, cfg.MaxChanges = 2, 0
	cfg.Secrets = map[string]Secrets{"Bad Tenant": {GitHub: "x"}, "empty": {}}
	err := cfg.Validate()
	for _, want := range []string{"max_depth", "max_changes", `tenant "Bad Tenant"`, "webhook_secrets.empty"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not name %s", err, want)
		}
	}
}

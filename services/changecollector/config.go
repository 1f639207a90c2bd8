package changecollector

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sort"

	"github.com/trilens/trilens/pkg/events"
)

// Config is the change collector's configuration.
type Config struct {
	// MaxBodyBytes bounds one request's body after decompression; webhook
	// payloads are tens of kilobytes.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxDepth bounds the nesting of a JSON body, checked before any decoder recurses.
	MaxDepth int `yaml:"max_depth"`
	// MaxChanges bounds the changes (generic batch items, Alertmanager alerts) of one request.
	MaxChanges int `yaml:"max_changes"`
	// MaxConcurrent bounds the requests read at once (each holds its body); others wait.
	MaxConcurrent int `yaml:"max_concurrent"`
	// Secrets are the webhook secrets of each tenant. A tenant with a secret
	// for a source has every request of that source verified with it.
	Secrets map[string]Secrets `yaml:"webhook_secrets"`
}

// Secrets are one tenant's webhook secrets.
type Secrets struct {
	// GitHub signs each delivery with HMAC-SHA256 (X-Hub-Signature-256).
	GitHub Secret `yaml:"github"`
	// GitLab sends the secret token as it is (X-Gitlab-Token).
	GitLab Secret `yaml:"gitlab"`
}

// Secret is a webhook secret: it prints, logs and marshals as REDACTED, so
// -config.print and logs never show it.
type Secret string

const redacted = "REDACTED"

func (s Secret) String() string { return redactedUnlessEmpty(s) }

// LogValue keeps the secret out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redactedUnlessEmpty(s)) }

// MarshalYAML keeps the secret out of printed configuration.
func (s Secret) MarshalYAML() (any, error) { return redactedUnlessEmpty(s), nil }

// MarshalJSON keeps the secret out of JSON dumps.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redactedUnlessEmpty(s) + `"`), nil }

func redactedUnlessEmpty(s Secret) string {
	if s == "" {
		return ""
	}
	return redacted
}

// RegisterFlags sets the defaults and registers flags under prefix (e.g.
// "changecollector."). Secrets come only from the YAML file (with
// -config.expand-env for ${VAR}), never from flags, which ps shows.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.Int64Var(&c.MaxBodyBytes, prefix+"max-body-bytes", 8<<20, "largest change request body, after decompression")
	fs.IntVar(&c.MaxDepth, prefix+"max-depth", 64, "deepest JSON nesting of a change request")
	fs.IntVar(&c.MaxChanges, prefix+"max-changes", 1000, "most changes in one request")
	fs.IntVar(&c.MaxConcurrent, prefix+"max-concurrent", 16, "requests read at once")
}

// Validate reports every invalid field by its key.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("max_body_bytes: want at least 1024, got %d", c.MaxBodyBytes))
	}
	if c.MaxDepth < 8 || c.MaxDepth > 1000 {
		errs = append(errs, fmt.Errorf("max_depth: want 8..1000, got %d", c.MaxDepth))
	}
	if c.MaxChanges < 1 {
		errs = append(errs, fmt.Errorf("max_changes: want at least 1, got %d", c.MaxChanges))
	}
	if c.MaxConcurrent < 1 {
		errs = append(errs, fmt.Errorf("max_concurrent: want at least 1, got %d", c.MaxConcurrent))
	}
	tenants := make([]string, 0, len(c.Secrets))
	for t := range c.Secrets {
		tenants = append(tenants, t)
	}
	sort.Strings(tenants)
	for _, t := range tenants {
		if err := events.ValidateTenant(t); err != nil {
			errs = append(errs, fmt.Errorf("webhook_secrets: %w", err))
		}
		if s := c.Secrets[t]; s.GitHub == "" && s.GitLab == "" {
			errs = append(errs, fmt.Errorf("webhook_secrets.%s: want a github or gitlab secret", t))
		}
	}
	return errors.Join(errs...)
}

package scancollector

import (
	"errors"
	"flag"
	"fmt"
)

// Config is the scan collector's configuration.
type Config struct {
	// PartSize is the most findings one event carries.
	PartSize int `yaml:"part_size"`
	// MaxFindings bounds the findings of one report, so a body of millions of
	// tiny findings cannot exhaust memory.
	MaxFindings int `yaml:"max_findings"`
	// MaxConcurrent bounds the reports decoded at once; others wait.
	MaxConcurrent int `yaml:"max_concurrent"`
	// TempDir holds each body while it is decoded, before it goes to the
	// object store; empty means the OS temp directory.
	TempDir string `yaml:"temp_dir"`
}

// RegisterFlags sets the defaults and registers flags under prefix (e.g. "scancollector.").
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.IntVar(&c.PartSize, prefix+"part-size", 2000, "most findings in one event")
	fs.IntVar(&c.MaxFindings, prefix+"max-findings", 500_000, "most findings in one report (they are held compactly until the whole report decoded)")
	fs.IntVar(&c.MaxConcurrent, prefix+"max-concurrent", 2, "reports decoded at once")
	fs.StringVar(&c.TempDir, prefix+"temp-dir", "", "directory for bodies being decoded (default: the OS temp directory)")
}

// Validate reports every invalid field by its key.
func (c *Config) Validate() error {
	var errs []error
	if c.PartSize < 1 || c.PartSize > 20000 {
		errs = append(errs, fmt.Errorf("part_size: want 1..20000, got %d", c.PartSize))
	}
	if c.MaxFindings < 1 {
		errs = append(errs, fmt.Errorf("max_findings: want at least 1, got %d", c.MaxFindings))
	}
	if c.MaxConcurrent < 1 {
		errs = append(errs, fmt.Errorf("max_concurrent: want at least 1, got %d", c.MaxConcurrent))
	}
	return errors.Join(errs...)
}

// Package loadcollector ingests load-test and browser-performance evidence:
// k6 summaries and NDJSON streams on POST /v1/loadruns, Lighthouse reports
// on POST /v1/webvitals. It turns them into run figures, a per-step time
// series and a capacity envelope, and publishes them as events.
package loadcollector

import (
	"errors"
	"flag"
	"fmt"
)

// Config is the collector's configuration.
type Config struct {
	// Steps tunes how stepped runs are cut into levels and where the knee is.
	Steps StepOptions `yaml:"steps"`
	// StoreDocuments puts each original document into the object store
	// (claim check) when it is at most MaxDocumentBytes long.
	StoreDocuments   bool  `yaml:"store_documents"`
	MaxDocumentBytes int64 `yaml:"max_document_bytes"`
}

// RegisterFlags registers the flags under prefix and sets the defaults.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.IntVar(&c.Steps.MinSeconds, prefix+"steps.min-seconds", 3, "shortest load level kept from a k6 NDJSON run, after trimming its first and last second")
	fs.Float64Var(&c.Steps.KneeEfficiency, prefix+"steps.knee-efficiency", 0.5, "the knee is the last level before one whose throughput grows by less than this share of its relative load increase")
	fs.Float64Var(&c.Steps.SaturationRatio, prefix+"steps.saturation-ratio", 1.5, "flag a saturated load generator when the Little's law ratio at the top level exceeds the lowest level's by this factor")
	fs.BoolVar(&c.StoreDocuments, prefix+"store-documents", true, "keep original documents in the object store (claim check)")
	fs.Int64Var(&c.MaxDocumentBytes, prefix+"max-document-bytes", 64<<20, "largest document kept in the object store; larger ones (multi-GB NDJSON) are summarised only")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	if c.Steps.MinSeconds < 1 {
		errs = append(errs, fmt.Errorf("steps.min_seconds: want at least 1, got %d", c.Steps.MinSeconds))
	}
	if c.Steps.KneeEfficiency <= 0 || c.Steps.KneeEfficiency >= 1 {
		errs = append(errs, fmt.Errorf("steps.knee_efficiency: want between 0 and 1 (exclusive), got %v", c.Steps.KneeEfficiency))
	}
	if c.Steps.SaturationRatio <= 1 {
		errs = append(errs, fmt.Errorf("steps.saturation_ratio: want more than 1, got %v", c.Steps.SaturationRatio))
	}
	if c.StoreDocuments && c.MaxDocumentBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_document_bytes: want a positive size when store_documents is on, got %d", c.MaxDocumentBytes))
	}
	return errors.Join(errs...)
}

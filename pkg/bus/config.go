// Package bus is Trilens's event bus on NATS JetStream: streams declared as
// data, publishing with deduplication ids, durable pull consumers that hand
// batches to a handler and ack only after it succeeds, dead letters, and the
// object store for whole documents (claim check).
package bus

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Config of the bus client.
type Config struct {
	// URL of the NATS server; empty connects in process to the embedded server.
	URL string `yaml:"url"`
	// Replicas of every stream and of the document bucket: 1 on one
	// machine, 3 on a NATS cluster.
	Replicas int `yaml:"replicas"`
	// PlacementCluster and PlacementTags choose the servers that hold the
	// streams and the bucket: a cluster by name and servers carrying every
	// tag (nats-server's server_tags). Empty places them anywhere.
	PlacementCluster string   `yaml:"placement_cluster"`
	PlacementTags    []string `yaml:"placement_tags"`
	// EvidenceMaxAge and EvidenceMaxBytes bound the evidence stream. When it is
	// full, publishers are refused rather than old, unscored evidence dropped.
	EvidenceMaxAge   time.Duration `yaml:"evidence_max_age"`
	EvidenceMaxBytes int64         `yaml:"evidence_max_bytes"`
	// DuplicateWindow is how long JetStream remembers message ids to drop duplicates.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// PublishTimeout bounds the wait for one batch's acknowledgements.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// PublishAckWait bounds one attempt's wait for a message's
	// acknowledgement. An ack lost with a stream leader that died is never
	// answered; past this wait the message is sent again and JetStream
	// drops the duplicate by its id.
	PublishAckWait time.Duration `yaml:"publish_ack_wait"`
	// Provision creates or updates the streams and buckets when a client
	// connects to URL; off for a NATS user without the JetStream API (a
	// tenant's collector), which needs another client to have done it.
	Provision bool `yaml:"provision"`
	// DocumentQuota bounds the document bytes one tenant may store (0: no bound).
	DocumentQuota int64 `yaml:"document_quota"`
}

// RegisterFlags sets the defaults and binds the flags under prefix.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.StringVar(&c.URL, prefix+"url", "", "NATS server URL; empty uses the embedded server in process")
	fs.IntVar(&c.Replicas, prefix+"replicas", 1, "JetStream replicas of every stream and the document bucket: 1 on one server, 3 on a cluster")
	fs.StringVar(&c.PlacementCluster, prefix+"placement-cluster", "", "NATS cluster that holds the streams; empty places them anywhere")
	fs.Func(prefix+"placement-tags", "comma-separated server tags every server holding a stream must carry", func(s string) error {
		c.PlacementTags = nil
		for _, tag := range strings.Split(s, ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				c.PlacementTags = append(c.PlacementTags, tag)
			}
		}
		return nil
	})
	fs.DurationVar(&c.EvidenceMaxAge, prefix+"evidence-max-age", 7*24*time.Hour, "how long evidence stays in its stream")
	fs.Int64Var(&c.EvidenceMaxBytes, prefix+"evidence-max-bytes", 8<<30, "size bound of the evidence stream; publishers are refused past it")
	fs.DurationVar(&c.DuplicateWindow, prefix+"duplicate-window", time.Hour, "window in which JetStream drops messages with a repeated id")
	fs.DurationVar(&c.PublishTimeout, prefix+"publish-timeout", time.Minute, "how long to wait for JetStream to acknowledge a batch")
	fs.DurationVar(&c.PublishAckWait, prefix+"publish-ack-wait", 10*time.Second, "how long one publish attempt waits for a message's acknowledgement before sending it again (JetStream drops the duplicate)")
	fs.BoolVar(&c.Provision, prefix+"provision", true, "create or update the streams and buckets at start; false for a NATS user that may only publish (a tenant's collector)")
	fs.Int64Var(&c.DocumentQuota, prefix+"document-quota", 4<<30, "document bytes one tenant may store in the object store; 0 for no bound")
}

// Validate reports settings JetStream would refuse.
func (c *Config) Validate() error {
	var errs []error
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, errors.New("replicas: want 1 to 5"))
	}
	for _, tag := range c.PlacementTags {
		if tag == "" || strings.ContainsAny(tag, ", \t") {
			errs = append(errs, fmt.Errorf("placement_tags: %q: want a non-empty tag without commas or spaces", tag))
		}
	}
	if c.EvidenceMaxAge <= 0 {
		errs = append(errs, errors.New("evidence_max_age: must be positive"))
	}
	if c.DuplicateWindow <= 0 || c.DuplicateWindow > c.EvidenceMaxAge {
		errs = append(errs, errors.New("duplicate_window: must be positive and at most evidence_max_age"))
	}
	if c.PublishTimeout <= 0 {
		errs = append(errs, errors.New("publish_timeout: must be positive"))
	}
	if c.PublishAckWait <= 0 || c.PublishAckWait > c.PublishTimeout || c.PublishAckWait >= c.DuplicateWindow {
		errs = append(errs, errors.New("publish_ack_wait: must be positive, at most publish_timeout and shorter than duplicate_window"))
	}
	return errors.Join(errs...)
}

// DefaultConfig is the configuration the flags default to.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags("", flag.NewFlagSet("", flag.ContinueOnError))
	return c
}

// placement is where the streams and the bucket go; nil leaves it to the server.
func (c Config) placement() *jetstream.Placement {
	if c.PlacementCluster == "" && len(c.PlacementTags) == 0 {
		return nil
	}
	return &jetstream.Placement{Cluster: c.PlacementCluster, Tags: c.PlacementTags}
}

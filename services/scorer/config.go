package scorer

import (
	"errors"
	"flag"
	"time"
)

// Config of the scorer.
type Config struct {
	// Durable is the consumer every scorer replica shares.
	Durable string `yaml:"durable"`
	// BatchRows and BatchWait decide when a batch is written: inserts under
	// ten thousand rows cost several times more per row in ClickHouse.
	BatchRows int           `yaml:"batch_rows"`
	BatchWait time.Duration `yaml:"batch_wait"`
	// AckWait is how soon evidence a crashed replica held is delivered again.
	AckWait time.Duration `yaml:"ack_wait"`
	// MaxDeliver is how often a message is tried before it is dead-lettered.
	MaxDeliver int `yaml:"max_deliver"`
	// SweepInterval is how often expired waivers are recorded and notified
	// when no evidence arrives (reads never write).
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// MaxAge bounds how long evidence that keeps failing is retried, a
	// ClickHouse outage included, before it is dead-lettered (and can be
	// replayed). It stays far below the evidence stream's age limit.
	MaxAge time.Duration `yaml:"max_age"`
	// Chain links every stored envelope into its tenant's digest chain
	// (trilens verify-log). Its cross-replica lock is a JetStream write;
	// when that fails (a full NATS store) batches are stored unchained and
	// a background pass appends them every ChainCatchUp once it can.
	Chain        bool          `yaml:"chain"`
	ChainCatchUp time.Duration `yaml:"chain_catch_up"`
	// CheckpointKey is a PEM ed25519 private key file; with it the evidence
	// chain gets a signed checkpoint every CheckpointEvery entries per tenant.
	CheckpointKey   string `yaml:"checkpoint_key"`
	CheckpointEvery int    `yaml:"checkpoint_every"`
	// DocumentRetention is how long object-store documents (claim-checked
	// events, uploaded reports) are kept once their evidence is scored; 0
	// follows the evidence: store.retention's evidence_log period, else
	// DefaultDocumentRetention. DocumentSweepEvery is how often they are swept.
	DocumentRetention  time.Duration `yaml:"document_retention"`
	DocumentSweepEvery time.Duration `yaml:"document_sweep_every"`
}

// DefaultDocumentRetention keeps documents when store.retention gives
// evidence_log no period: as long as evidence is commonly kept.
const DefaultDocumentRetention = 400 * 24 * time.Hour

// RegisterFlags sets the defaults and binds the flags under prefix.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.StringVar(&c.Durable, prefix+"durable", "scorer", "name of the JetStream consumer the scorer replicas share")
	fs.IntVar(&c.BatchRows, prefix+"batch-rows", 50_000, "rows per ClickHouse insert")
	fs.DurationVar(&c.BatchWait, prefix+"batch-wait", time.Second, "longest wait before a partial batch is inserted")
	fs.DurationVar(&c.AckWait, prefix+"ack-wait", 30*time.Second, "time before unacknowledged evidence is delivered again")
	fs.IntVar(&c.MaxDeliver, prefix+"max-deliver", 10, "deliveries before a message is dead-lettered")
	fs.DurationVar(&c.SweepInterval, prefix+"sweep-interval", time.Minute, "how often expired waivers are swept when no evidence arrives")
	fs.DurationVar(&c.MaxAge, prefix+"max-age", 24*time.Hour, "how long failing evidence is retried, an outage included, before it is dead-lettered")
	fs.BoolVar(&c.Chain, prefix+"chain", true, "link every stored envelope into its tenant's digest chain (trilens verify-log)")
	fs.DurationVar(&c.ChainCatchUp, prefix+"chain-catch-up", 10*time.Second,
		"how often envelopes stored unchained (the chain lock was unavailable) are appended to their chain")
	fs.StringVar(&c.CheckpointKey, prefix+"checkpoint-key", "", "PEM ed25519 private key that signs evidence chain checkpoints (none: no checkpoints)")
	fs.IntVar(&c.CheckpointEvery, prefix+"checkpoint-every", 1000, "evidence chain entries per tenant between signed checkpoints")
	fs.DurationVar(&c.DocumentRetention, prefix+"document-retention", 0, "how long object-store documents are kept once their evidence is scored (0: store.retention's evidence_log period, else 400 days)")
	fs.DurationVar(&c.DocumentSweepEvery, prefix+"document-sweep-every", time.Hour, "how often documents past their retention are deleted")
}

// Validate reports unusable settings.
func (c *Config) Validate() error {
	var errs []error
	if c.Durable == "" {
		errs = append(errs, errors.New("durable: must not be empty"))
	}
	if c.BatchRows < 1 {
		errs = append(errs, errors.New("batch_rows: must be at least 1"))
	}
	if c.BatchWait <= 0 {
		errs = append(errs, errors.New("batch_wait: must be positive"))
	}
	if c.AckWait < time.Second {
		errs = append(errs, errors.New("ack_wait: must be at least 1s"))
	}
	if c.SweepInterval <= 0 {
		errs = append(errs, errors.New("sweep_interval: must be positive"))
	}
	if c.Chain && c.ChainCatchUp <= 0 {
		errs = append(errs, errors.New("chain_catch_up: must be positive"))
	}
	if c.DocumentRetention < 0 {
		errs = append(errs, errors.New("document_retention: must not be negative (0 follows evidence_log's retention)"))
	}
	if c.DocumentSweepEvery <= 0 {
		errs = append(errs, errors.New("document_sweep_every: must be positive"))
	}
	if c.CheckpointEvery < 1 {
		errs = append(errs, errors.New("checkpoint_every: must be at least 1"))
	}
	if c.MaxDeliver < 1 {
		errs = append(errs, errors.New("max_deliver: must be at least 1"))
	}
	if c.MaxAge <= 0 {
		errs = append(errs, errors.New("max_age: must be positive"))
	}
	return errors.Join(errs...)
}

package store

import (
	"errors"
	"flag"
	"fmt"
	"regexp"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Config says where the store lives.
type Config struct {
	// DSN is a clickhouse-go native-protocol DSN: clickhouse://user:pass@host:9000?dial_timeout=5s
	DSN string `yaml:"dsn"`
	// Database holds the Trilens tables; Open creates it when missing.
	Database     string        `yaml:"database"`
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	MaxOpenConns int           `yaml:"max_open_conns"`
	// Retention is how long tables keep their rows, e.g. evidence_log: 400d
	// (TTL where the server has it, else the partition-dropping job).
	Retention Retention `yaml:"retention"`
	// Cluster names the ClickHouse cluster (remote_servers) the schema spans:
	// tables are created ON CLUSTER, replicated and distributed over its
	// shards. Empty: one server.
	Cluster string `yaml:"cluster"`
	// Recorder, when set, keeps every statement the Store sends (tests).
	Recorder *Recorder `yaml:"-"`
}

// DefaultDSN is where `trilens up` runs its local ClickHouse.
const DefaultDSN = "clickhouse://127.0.0.1:19000"

// RegisterFlags sets the defaults and registers <prefix>dsn and friends.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.StringVar(&c.DSN, prefix+"dsn", DefaultDSN, "ClickHouse native-protocol DSN")
	fs.StringVar(&c.Database, prefix+"database", "trilens", "ClickHouse database of the Trilens tables (created when missing)")
	fs.DurationVar(&c.DialTimeout, prefix+"dial-timeout", 5*time.Second, "timeout to open a ClickHouse connection")
	fs.DurationVar(&c.ReadTimeout, prefix+"read-timeout", 5*time.Minute, "timeout of one read from ClickHouse (bounds a stalled query)")
	fs.IntVar(&c.MaxOpenConns, prefix+"max-open-conns", 8, "most ClickHouse connections open at once")
	fs.StringVar(&c.Cluster, prefix+"cluster", "", "ClickHouse cluster (remote_servers name) to create the schema on: replicated tables under Distributed ones; empty for one server")
	fs.Var(&c.Retention, prefix+"retention", "how long tables keep their rows: table=period,... (400d or 720h; TTL on ClickHouse 19.6+, partition drops on 18.16)")
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Validate reports every problem, each named by its key.
func (c *Config) Validate() error {
	var errs []error
	if c.DSN == "" {
		errs = append(errs, errors.New("dsn: empty"))
	} else if _, err := clickhouse.ParseDSN(c.DSN); err != nil {
		errs = append(errs, fmt.Errorf("dsn: %w", err))
	}
	if !identRE.MatchString(c.Database) {
		errs = append(errs, fmt.Errorf("database: %q is not a plain identifier (letters, digits, '_')", c.Database))
	}
	if c.Cluster != "" && !identRE.MatchString(c.Cluster) {
		errs = append(errs, fmt.Errorf("cluster: %q is not a plain identifier (letters, digits, '_')", c.Cluster))
	}
	if c.DialTimeout < 0 {
		errs = append(errs, errors.New("dial_timeout: negative"))
	}
	if c.ReadTimeout < 0 {
		errs = append(errs, errors.New("read_timeout: negative"))
	}
	if c.MaxOpenConns < 0 {
		errs = append(errs, errors.New("max_open_conns: negative"))
	}
	if err := c.Retention.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

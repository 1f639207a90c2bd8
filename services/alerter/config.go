package alerter

import (
	"errors"
	"flag"
	"strings"
	"time"
)

// Config of the alerter.
type Config struct {
	// Durable is the consumer every alerter replica shares.
	Durable string `yaml:"durable"`
	// GroupWait is how long the alerter collects verdicts after the first
	// one, so a burst becomes one notification per group.
	GroupWait time.Duration `yaml:"group_wait"`
	// RepeatInterval suppresses a verdict already notified (same tenant,
	// lens, KPI, scope, status and reason) for this long.
	RepeatInterval time.Duration `yaml:"repeat_interval"`
	// MaxAge skips verdicts older than this: a new consumer starts at the
	// beginning of the stream and must not page for last month.
	MaxAge time.Duration `yaml:"max_age"`
	// Attempts, RetryInitial and RetryMax shape the retries of one
	// delivery; after the last attempt the notification is dead-lettered.
	Attempts     int           `yaml:"attempts"`
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	// Timeout bounds one HTTP request to a receiver.
	Timeout time.Duration `yaml:"timeout"`
	// DefaultWebhook receives verdicts whose owner has no receiver in the
	// policy (generic JSON); empty drops them with a warning and a count.
	DefaultWebhook string `yaml:"default_webhook"`
	// DashboardURL, when set, is linked from notifications.
	DashboardURL string `yaml:"dashboard_url"`
	// EgressAllow lists internal prefixes (loopback, private, link-local)
	// receivers may live on; every other internal address is refused.
	EgressAllow []string `yaml:"egress_allow"`
}

// RegisterFlags sets the defaults and binds the flags under prefix.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.StringVar(&c.Durable, prefix+"durable", "alerter", "name of the JetStream consumer the alerter replicas share")
	fs.DurationVar(&c.GroupWait, prefix+"group-wait", 10*time.Second, "time to collect a burst of verdicts into one notification per group")
	fs.DurationVar(&c.RepeatInterval, prefix+"repeat-interval", 4*time.Hour, "time before the same verdict is notified again")
	fs.DurationVar(&c.MaxAge, prefix+"max-age", time.Hour, "verdicts older than this are not notified")
	fs.IntVar(&c.Attempts, prefix+"attempts", 6, "delivery attempts per notification before it is dead-lettered")
	fs.DurationVar(&c.RetryInitial, prefix+"retry-initial", time.Second, "wait before the first retry; doubles each time")
	fs.DurationVar(&c.RetryMax, prefix+"retry-max", 30*time.Second, "longest wait between retries")
	fs.DurationVar(&c.Timeout, prefix+"timeout", 10*time.Second, "timeout of one request to a receiver")
	fs.StringVar(&c.DefaultWebhook, prefix+"default-webhook", "", "generic JSON webhook for verdicts whose owner has no receiver")
	fs.StringVar(&c.DashboardURL, prefix+"dashboard-url", "", "dashboard linked from notifications")
	fs.Func(prefix+"egress-allow", "internal prefix a receiver may live on, e.g. 10.20.0.0/16 (repeatable; default: public addresses only)", func(v string) error {
		c.EgressAllow = append(c.EgressAllow, strings.Split(v, ",")...)
		return nil
	})
}

// Validate reports unusable settings.
func (c *Config) Validate() error {
	var errs []error
	if c.Durable == "" {
		errs = append(errs, errors.New("durable: must not be empty"))
	}
	if c.GroupWait <= 0 {
		errs = append(errs, errors.New("group_wait: must be positive"))
	}
	if c.RepeatInterval < time.Second {
		errs = append(errs, errors.New("repeat_interval: must be at least 1s"))
	}
	if c.MaxAge <= 0 {
		errs = append(errs, errors.New("max_age: must be positive"))
	}
	if c.Attempts < 1 {
		errs = append(errs, errors.New("attempts: must be at least 1"))
	}
	if c.RetryInitial <= 0 || c.RetryMax < c.RetryInitial {
		errs = append(errs, errors.New("retry_initial, retry_max: want 0 < retry_initial <= retry_max"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("timeout: must be positive"))
	}
	if _, err := parseEgressAllow(c.EgressAllow); err != nil {
		errs = append(errs, errors.New("egress_allow: "+err.Error()))
	}
	if c.DefaultWebhook != "" {
		if err := checkURL(c.DefaultWebhook); err != nil {
			errs = append(errs, errors.New("default_webhook: "+err.Error()))
		}
	}
	return errors.Join(errs...)
}

// DefaultConfig is the configuration the flags default to.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags("", flag.NewFlagSet("", flag.ContinueOnError))
	return c
}

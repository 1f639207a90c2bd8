package alerter

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := func() error { c := DefaultConfig(); return c.Validate() }(); err != nil {
		t.Fatalf("defaults must validate: %v", err)
	}
	for _, tc := range []struct {
		key  string
		edit func(*Config)
	}{
		{"durable", func(c *Config) { c.Durable = "" }},
		{"group_wait", func(c *Config) { c.GroupWait = 0 }},
		{"repeat_interval", func(c *Config) { c.RepeatInterval = time.Millisecond }},
		{"max_age", func(c *Config) { c.MaxAge = -time.Second }},
		{"attempts", func(c *Config) { c.Attempts = 0 }},
		{"retry_max", func(c *Config) { c.RetryMax = c.RetryInitial / 2 }},
		{"timeout", func(c *Config) { c.Timeout = 0 }},
		{"default_webhook", func(c *Config) { c.DefaultWebhook = "ftp://example.com/x" }},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: want an error naming it, got %v", tc.key, err)
		}
	}
}

package tracker

import (
	"flag"
	"strings"
	"testing"
)

// TestConfigValidate: the defaults are valid; each unusable setting is named.
func TestConfigValidate(t *testing.T) {
	var c Config
	c.RegisterFlags("trackers.", flag.NewFlagSet("", flag.ContinueOnError))
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, bad := range []struct {
		set  func(*Config)
		want string
	}{
		{func(c *Config) { c.JiraAPI = 4 }, "trackers.jira_api"},
		{func(c *Config) { c.JiraURL = "ftp://jira" }, "trackers.jira_url"},
		{func(c *Config) { c.GitHubURL = "api.github.com" }, "trackers.github_url"},
		{func(c *Config) { c.Interval = 0 }, "trackers.interval"},
		{func(c *Config) { c.WaiverDays = 0 }, "trackers.waiver_days"},
	} {
		x := c
		bad.set(&x)
		if err := x.Validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("want an error naming %s, got %v", bad.want, err)
		}
	}
}

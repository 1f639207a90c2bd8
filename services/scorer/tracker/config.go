package tracker

import (
	"errors"
	"flag"
	"net/url"
	"time"
)

// Environment variables that hold the trackers' credentials: the
// configuration names where a tracker lives, never its token, so no config
// file or log line carries one.
const (
	EnvGitHubAuth = "TRILENS_GITHUB_TOKEN"
	// EnvJiraUser, when set, makes Jira requests use basic auth with
	// EnvJiraAuth as the API token (Jira Cloud); unset, the token is a
	// personal access token sent as a bearer token (Data Center).
	EnvJiraUser = "TRILENS_JIRA_USER"
	EnvJiraAuth = "TRILENS_JIRA_TOKEN"
)

// Config of the tracker sync.
type Config struct {
	// Interval between two syncs of every rule.
	Interval time.Duration `yaml:"interval"`
	// GitHubURL is the REST API root (GitHub Enterprise: https://host/api/v3/).
	GitHubURL string `yaml:"github_url"`
	// JiraURL is the Jira site (https://acme.atlassian.net, or a Data
	// Center base URL); empty turns the Jira rules off with a warning.
	JiraURL string `yaml:"jira_url"`
	// JiraAPI is the REST API version: 3 (Jira Cloud) or 2 (Data Center).
	JiraAPI int `yaml:"jira_api"`
	// WaiverDays is how long a waiver proposed by a won't-fix lasts once accepted.
	WaiverDays int `yaml:"waiver_days"`
	// MaxWait is the longest a rate limit may hold one request; a longer
	// wait fails the request and the next sync retries it.
	MaxWait time.Duration `yaml:"max_wait"`
	// Timeout bounds one HTTP request to a tracker.
	Timeout time.Duration `yaml:"timeout"`
}

// RegisterFlags sets the defaults and binds the flags under prefix.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.DurationVar(&c.Interval, prefix+"interval", 5*time.Minute, "time between two syncs of the issue_trackers rules of the policy")
	fs.StringVar(&c.GitHubURL, prefix+"github-url", "https://api.github.com/", "GitHub REST API root (token in $"+EnvGitHubAuth+")")
	fs.StringVar(&c.JiraURL, prefix+"jira-url", "", "Jira site, e.g. https://acme.atlassian.net (token in $"+EnvJiraAuth+", user in $"+EnvJiraUser+" for Jira Cloud)")
	fs.IntVar(&c.JiraAPI, prefix+"jira-api", 3, "Jira REST API version: 3 for Jira Cloud, 2 for Data Center")
	fs.IntVar(&c.WaiverDays, prefix+"waiver-days", 90, "days a waiver proposed by an issue closed as won't fix lasts once an admin accepts it")
	fs.DurationVar(&c.MaxWait, prefix+"max-wait", 5*time.Minute, "longest wait a tracker's rate limit may impose on one request")
	fs.DurationVar(&c.Timeout, prefix+"timeout", 30*time.Second, "timeout of one request to a tracker")
}

// Validate reports unusable settings.
func (c *Config) Validate() error {
	var errs []error
	if c.Interval < time.Second {
		errs = append(errs, errors.New("trackers.interval: must be at least 1s"))
	}
	for _, u := range []struct{ key, v string }{{"trackers.github_url", c.GitHubURL}, {"trackers.jira_url", c.JiraURL}} {
		if u.v == "" {
			continue
		}
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, errors.New(u.key+": want an http or https URL, got "+u.v))
		}
	}
	if c.JiraAPI != 2 && c.JiraAPI != 3 {
		errs = append(errs, errors.New("trackers.jira_api: want 3 (Jira Cloud) or 2 (Data Center)"))
	}
	if c.WaiverDays < 1 {
		errs = append(errs, errors.New("trackers.waiver_days: must be at least 1"))
	}
	if c.MaxWait <= 0 || c.Timeout <= 0 {
		errs = append(errs, errors.New("trackers.max_wait, trackers.timeout: must be positive"))
	}
	return errors.Join(errs...)
}

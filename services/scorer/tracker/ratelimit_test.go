package tracker

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestRetryAfter: which answers are rate limits, and how long each says to wait.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name    string
		status  int
		header  map[string]string
		attempt int
		wait    time.Duration
		limited bool
	}{
		{"ok", 200, nil, 0, 0, false},
		{"github secondary", 403, map[string]string{"Retry-After": "60"}, 0, time.Minute, true},
		{"github primary", 403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(now.Add(30*time.Second).Unix(), 10)}, 0, 31 * time.Second, true},
		{"forbidden, no limit", 403, map[string]string{"X-RateLimit-Remaining": "12"}, 0, 0, false},
		{"jira 429", 429, map[string]string{"Retry-After": "2"}, 0, 2 * time.Second, true},
		{"429 as a date", 429, map[string]string{"Retry-After": now.Add(5 * time.Second).Format(http.TimeFormat)}, 0, 5 * time.Second, true},
		{"429 without a header backs off", 429, nil, 3, 8 * time.Second, true},
	} {
		resp := &http.Response{StatusCode: c.status, Header: http.Header{}}
		for k, v := range c.header {
			resp.Header.Set(k, v)
		}
		wait, limited := retryAfter(resp, now, c.attempt)
		if wait != c.wait || limited != c.limited {
			t.Errorf("%s: wait %v, limited %v; want %v, %v", c.name, wait, limited, c.wait, c.limited)
		}
	}
}

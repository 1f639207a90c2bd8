package api

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

func match(q url.Values, key, v string) bool { return q.Get(key) == "" || q.Get(key) == v }

func floatParam(q url.Values, key string) (float64, error) {
	if q.Get(key) == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(q.Get(key), 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", key, err)
	}
	return v, nil
}

// maxLimit bounds ?limit=: a request may ask for at most this many times
// its route's default, so no caller can make one answer unbounded.
const maxLimit = 10

// maxSince bounds ?since=: about a year, the retention of the facts.
const maxSince = 366 * 24 * time.Hour

// intParam reads a positive ?key= of at most maxLimit times def.
func intParam(q url.Values, key string, def int) (int, error) {
	if q.Get(key) == "" {
		return def, nil
	}
	v, err := strconv.Atoi(q.Get(key))
	if err != nil || v < 1 || v > def*maxLimit {
		return 0, fmt.Errorf("%s: want an integer from 1 to %d", key, def*maxLimit)
	}
	return v, nil
}

// sinceParam reads ?since= as a duration back from now ("7d", "36h"), default def.
func sinceParam(q url.Values, now time.Time, def time.Duration) (time.Time, error) {
	s := q.Get("since")
	if s == "" {
		return now.Add(-def), nil
	}
	d, err := ParseSince(s)
	if err != nil {
		return time.Time{}, err
	}
	if d > maxSince {
		return time.Time{}, fmt.Errorf("since %q: at most %dd", s, int(maxSince.Hours()/24))
	}
	return now.Add(-d), nil
}

// ParseSince reads a duration that may count days: "7d", "1d12h", "90m".
func ParseSince(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, fmt.Errorf("since %q: want a duration such as 7d or 36h", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
	}
	if s == "" {
		return days, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d+days <= 0 {
		return 0, fmt.Errorf("since %q: want a duration such as 7d or 36h", s)
	}
	return days + d, nil
}

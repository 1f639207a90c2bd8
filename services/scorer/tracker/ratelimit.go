package tracker

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// patient is an http.RoundTripper that honours the trackers' rate limits:
// GitHub answers 403 or 429 with Retry-After (secondary limits) or with
// X-RateLimit-Remaining: 0 and X-RateLimit-Reset (primary), Jira 429 with
// Retry-After. It waits as told (without a header: 1s, 2s, 4s...) and sends
// the request again, up to attempts times, unless the wait is longer than
// maxWait, when the limited answer goes back to the caller and the next
// sync tries again. An answer that spends the last request of the window
// waits for the reset before it returns. Transport errors are never retried here: a create whose
// answer was lost may have happened, and the sync finds it by its marker.
type patient struct {
	next     http.RoundTripper
	attempts int
	maxWait  time.Duration
	now      func() time.Time
	waited   func(tracker string, d time.Duration)
	tracker  string
}

func (p *patient) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := p.next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		wait, limited := retryAfter(resp, p.now(), attempt)
		if !limited {
			if err := p.spent(req.Context(), resp); err != nil {
				return nil, err
			}
			return resp, nil
		}
		if attempt+1 >= p.attempts || wait > p.maxWait || (req.Body != nil && req.GetBody == nil) {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		_ = resp.Body.Close()
		p.waited(p.tracker, wait)
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// spent waits, when an answer says no request is left until the reset,
// until that reset (if it comes within maxWait): the next request would be
// refused, and go-github would refuse to send it.
func (p *patient) spent(ctx context.Context, resp *http.Response) error {
	if resp.Header.Get("X-RateLimit-Remaining") != "0" {
		return nil
	}
	reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil {
		return nil
	}
	wait := time.Unix(reset, 0).Sub(p.now()) + time.Second
	if wait <= 0 || wait > p.maxWait {
		return nil
	}
	p.waited(p.tracker, wait)
	if err := sleep(ctx, wait); err != nil {
		_ = resp.Body.Close()
		return err
	}
	return nil
}

// retryAfter says whether resp is a rate limit and how long to wait.
func retryAfter(resp *http.Response, now time.Time, attempt int) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusForbidden {
		return 0, false
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second, true
		}
		if at, err := http.ParseTime(s); err == nil {
			return max(at.Sub(now), 0), true
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			// The reset is whole seconds: wait into the next one.
			return max(time.Unix(reset, 0).Sub(now), 0) + time.Second, true
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return time.Second << min(attempt, 6), true
	}
	return 0, false // a 403 that is no rate limit: a permission problem
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unscoredRule is the alert on the oldest unscored evidence in
// deploy/prometheus/trilens-rules.yaml, and its production threshold.
const (
	unscoredRule      = "TrilensUnscoredEvidence"
	unscoredThreshold = "> 3600"
	unscoredFor       = "for: 5m"
)

// TestAlertOldestUnscoredEvidence makes the unscored-evidence alert fire:
// the scorer runs but ClickHouse is stopped, so the evidence published
// stays unacknowledged; a real Prometheus scrapes the scorer's /metrics
// and evaluates the deployed rule, its threshold lowered from an hour to
// 5 s. Once ClickHouse is back the evidence is stored and the alert ends.
func TestAlertOldestUnscoredEvidence(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("this test runs Prometheus (Debian's prometheus package, scripts/deps.d/85-prometheus.sh): not on PATH")
	}
	ch := chtestServer(t)
	ns := natsStart(t)
	b := connectBus(t, ns.ClientURL(), nil)
	st := chtestStore(t)
	scorerPort := freePort(t)
	scorer := startScorer(t, ns.ClientURL(), st, fmt.Sprintf("--server.http-address=127.0.0.1:%d", scorerPort))
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", scorerPort)
	waitFor(t, time.Minute, "the scorer's metrics", func() bool {
		scorer.mustRun()
		_, err := oldestUnacked(metricsURL)
		return err == nil
	})

	ctx := context.Background()
	if err := ch.Stop(ctx); err != nil {
		t.Fatalf("stop clickhouse: %v", err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = ch.Restart(context.Background())
		}
	})
	const tenant, n = "alert-lag", 10
	for i := range n {
		if err := b.Publish(ctx, changeEvent(tenant, i)); err != nil {
			t.Fatal(err)
		}
	}
	promURL := startPrometheus(t, promBin, scorerPort)
	waitFor(t, 2*time.Minute, unscoredRule+" firing", func() bool { return alertState(t, promURL, unscoredRule) == "firing" })
	age, err := oldestUnacked(metricsURL)
	if err != nil || age <= 5 {
		t.Fatalf("the alert fired with trilens_bus_oldest_unacked_seconds at %v (%v), want over 5", age, err)
	}

	if err := ch.Restart(ctx); err != nil {
		t.Fatalf("restart clickhouse: %v", err)
	}
	restarted = true
	waitStored(t, st, tenant, n, 2*time.Minute)
	waitFor(t, 2*time.Minute, unscoredRule+" resolved", func() bool { return alertState(t, promURL, unscoredRule) == "" })
}

// startPrometheus runs Prometheus on loopback, scraping the scorer every
// second and evaluating the deployed rules with the unscored-evidence
// threshold lowered to 5 s, and returns its URL.
func startPrometheus(t *testing.T, bin string, scorerPort int) string {
	t.Helper()
	rules, err := os.ReadFile("../../../deploy/prometheus/trilens-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(rules)
	if !strings.Contains(text, unscoredThreshold) || !strings.Contains(text, unscoredFor) {
		t.Fatalf("the deployed rules lost %q or %q: update this test with them", unscoredThreshold, unscoredFor)
	}
	text = strings.Replace(text, unscoredThreshold, "> 5", 1)
	text = strings.Replace(text, unscoredFor, "for: 0s", 1)
	dir := t.TempDir()
	config := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: trilens
    static_configs: [{targets: ["127.0.0.1:%d"]}]
`, filepath.Join(dir, "rules.yaml"), scorerPort)
	for name, body := range map[string]string{"rules.yaml": text, "prometheus.yaml": config} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yaml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// alertState is the state of the alert named name in Prometheus at url:
// "pending", "firing", or "" when it is not active.
func alertState(t *testing.T, url, name string) string {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/alerts")
	if err != nil {
		return "" // not up yet
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		return "" // starting
	}
	var body struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("prometheus alerts: %v", err)
	}
	for _, a := range body.Data.Alerts {
		if a.Labels["alertname"] == name {
			return a.State
		}
	}
	return ""
}

// oldestUnacked reads the scorer's trilens_bus_oldest_unacked_seconds.
func oldestUnacked(metricsURL string) (float64, error) {
	resp, err := http.Get(metricsURL)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, `trilens_bus_oldest_unacked_seconds{consumer="scorer"} `) {
			return strconv.ParseFloat(strings.Fields(line)[1], 64)
		}
	}
	return 0, fmt.Errorf("%s has no trilens_bus_oldest_unacked_seconds of the scorer", metricsURL)
}

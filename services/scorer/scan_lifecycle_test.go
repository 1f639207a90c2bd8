package scorer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"github.com/trilens/trilens/services/scorer/scan"
)

// report builds the events of one scan report: one part per finding (and
// one empty part when there are none), observed at the given time.
func report(tenant, id, branch string, observed time.Time, fps ...string) []*eventv1.Event {
	n := max(len(fps), 1)
	var evs []*eventv1.Event
	for i := 0; i < n; i++ {
		env := events.NewEnvelope(events.ID(tenant, id, fmt.Sprint(i)), tenant, eventv1.Kind_KIND_SCAN,
			&eventv1.Producer{Collector: "test", Tool: "trivy"},
			&eventv1.Subject{Repository: "acme/shop", Branch: branch, Commit: id, Service: "checkout"}, observed)
		env.Part = &eventv1.Part{ReportId: id, Index: uint32(i), Count: uint32(n)}
		var fs []*scanv1.Finding
		if i < len(fps) {
			fs = append(fs, &scanv1.Finding{Fingerprint: fps[i], RuleId: "CVE-2023-45288", Title: "HTTP/2 CONTINUATION flood",
				Severity: scanv1.Severity_SEVERITY_CRITICAL, Category: scanv1.Category_CATEGORY_VULNERABILITY,
				Aliases: []string{"CVE-2023-45288", "GHSA-4v7x-pqxf-cx7m"}, PackageName: "golang.org/x/net",
				InstalledVersion: "v0.0.0-" + fps[i]}) // one problem per fingerprint
		}
		evs = append(evs, &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Scan{Scan: &scanv1.FindingBatch{Tool: "trivy", Format: "trivy", Findings: fs}}})
	}
	return evs
}

func (r *rig) publishAndWaitScored(t *testing.T, tenant string, evs []*eventv1.Event) {
	t.Helper()
	if err := r.bus.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	id := evs[0].GetEnvelope().GetPart().GetReportId()
	deadline := time.Now().Add(time.Minute)
	for countWhere(t, r.store, "scan_reports_scored", "tenant = ? AND report_id = ?", tenant, id) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("report %s not scored after a minute", id)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// states reads the lifecycle of a branch: fingerprint -> state.
func (r *rig) states(t *testing.T, tenant, branch string) map[string]string {
	t.Helper()
	rows, err := r.store.Conn().Query(context.Background(), `SELECT fingerprint, state FROM `+r.store.Database()+
		`.finding_lifecycle FINAL WHERE tenant = ? AND branch = ?`, tenant, branch)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var fp, st string
		if err := rows.Scan(&fp, &st); err != nil {
			t.Fatal(err)
		}
		out[fp] = st
	}
	return out
}

func wantStates(t *testing.T, got map[string]string, want string) {
	t.Helper()
	var parts []string
	for _, kv := range strings.Fields(want) {
		parts = append(parts, kv)
	}
	if len(got) != len(parts) {
		t.Fatalf("states %v, want %s", got, want)
	}
	for _, kv := range parts {
		fp, st, _ := strings.Cut(kv, "=")
		if got[fp] != st {
			t.Fatalf("states %v, want %s", got, want)
		}
	}
}

func TestScanLifecycle(t *testing.T) {
	r := newRig(t, nil)
	const tenant = "lifecycle"
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)

	r.publishAndWaitScored(t, tenant, report(tenant, "r1", "main", t0, "x", "y", "z"))
	wantStates(t, r.states(t, tenant, "main"), "x=new y=new z=new")

	// The same report again, as a replay with new event ids, changes nothing.
	again := report(tenant, "r1", "main", t0, "x", "y", "z")
	for _, ev := range again {
		ev.Envelope.EventId += "-replay"
	}
	if err := r.bus.Publish(context.Background(), again...); err != nil {
		t.Fatal(err)
	}
	r.publishAndWaitScored(t, tenant, report(tenant, "other-branch", "feature", t0, "q"))
	wantStates(t, r.states(t, tenant, "main"), "x=new y=new z=new")

	// A later complete report without z fixes it; x and y stay open.
	r.publishAndWaitScored(t, tenant, report(tenant, "r2", "main", t0.Add(time.Minute), "x", "y"))
	wantStates(t, r.states(t, tenant, "main"), "x=open y=open z=fixed")

	// An older report arriving late changes nothing.
	r.publishAndWaitScored(t, tenant, report(tenant, "r0", "main", t0.Add(-time.Minute), "w"))
	wantStates(t, r.states(t, tenant, "main"), "x=open y=open z=fixed")

	// z comes back: reopened.
	r.publishAndWaitScored(t, tenant, report(tenant, "r3", "main", t0.Add(2*time.Minute), "x", "y", "z", "w"))
	wantStates(t, r.states(t, tenant, "main"), "x=open y=open z=reopened w=new")

	// The dashboard views see what is open.
	var open uint64
	if err := r.store.Conn().QueryRow(context.Background(), `SELECT sum(findings) FROM `+r.store.Database()+
		`.scan_open_by_severity WHERE tenant = ? AND branch = 'main'`, tenant).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if open != 4 {
		t.Fatalf("scan_open_by_severity counts %d open findings, want 4", open)
	}

	// An empty report fixes everything.
	r.publishAndWaitScored(t, tenant, report(tenant, "r4", "main", t0.Add(3*time.Minute)))
	wantStates(t, r.states(t, tenant, "main"), "x=fixed y=fixed z=fixed w=fixed")
}

func TestScanReportWaitsForEveryPart(t *testing.T) {
	r := newRig(t, nil)
	const tenant = "parts"
	evs := report(tenant, "p1", "main", time.Now(), "a", "b", "c")
	if err := r.bus.Publish(context.Background(), evs[0], evs[2]); err != nil {
		t.Fatal(err)
	}
	waitCount(t, r.store, "scan_report_parts", tenant, 2)
	time.Sleep(500 * time.Millisecond)
	if n := countWhere(t, r.store, "finding_lifecycle", "tenant = ?", tenant); n != 0 {
		t.Fatalf("%d lifecycle rows from an incomplete report", n)
	}
	r.publishAndWaitScored(t, tenant, evs[1:2])
	wantStates(t, r.states(t, tenant, "main"), "a=new b=new c=new")
}

func TestScanScorecardComparesWithBase(t *testing.T) {
	r := newRig(t, nil)
	const tenant = "card"
	old := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Second)
	r.publishAndWaitScored(t, tenant, report(tenant, "base1", "main", old, "kept", "gone"))
	r.publishAndWaitScored(t, tenant, report(tenant, "pr1", "feature", time.Now(), "kept", "added"))

	mux := http.NewServeMux()
	r.scorer.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	kev := `{"vulnerabilities":[{"cveID":"CVE-2023-45288","vendorProject":"golang","product":"net","vulnerabilityName":"x","dateAdded":"2024-04-10","dueDate":"2024-05-01","knownRansomwareCampaignUse":"Unknown"}]}`
	resp, err := http.Post(srv.URL+"/v1/scan/catalogs/kev", "application/json", strings.NewReader(kev))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("load kev: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	resp, _ = http.Post(srv.URL+"/v1/scan/catalogs/epss", "text/csv", strings.NewReader("#model_version:v2025.03.14,score_date:2026-11-20T00:00:00+0000\ncve,epss,percentile\nCVE-2023-45288,0.61,0.98\n"))
	if resp.StatusCode != 200 {
		t.Fatalf("load epss: %s", resp.Status)
	}
	resp.Body.Close()

	// Catalogues that are not what they claim are refused, naming the problem.
	for kind, body := range map[string]string{"kev": `{"vulnerabilities":[{"cveID":"nope","dateAdded":"2024"}]}`, "epss": "a,b,c\n", "nvd": "{}"} {
		resp, err := http.Post(srv.URL+"/v1/scan/catalogs/"+kind, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s catalogue %q: %s, want 400 or 404", kind, body, resp.Status)
		}
	}

	q := url.Values{"tenant": {tenant}, "report": {"pr1"}, "base": {"main"}}
	resp, err = http.Get(srv.URL + "/v1/scorecard/scans?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var card scan.Scorecard
	if err := json.NewDecoder(resp.Body).Decode(&card); err != nil {
		t.Fatal(err)
	}
	if !card.Scored || len(card.Findings) != 3 {
		t.Fatalf("scorecard %+v", card)
	}
	got := map[string]scan.Finding{}
	for _, f := range card.Findings {
		got[f.Fingerprint] = f
	}
	if got["added"].Status != "new" || got["kept"].Status != "open" || got["gone"].Status != "fixed" {
		t.Fatalf("statuses %+v", got)
	}
	if !got["kept"].FirstSeen.Equal(old) {
		t.Fatalf("kept first seen %v, want the base's %v", got["kept"].FirstSeen, old)
	}
	if !got["added"].KEV || got["added"].EPSS != 0.61 {
		t.Fatalf("exploit info %+v", got["added"])
	}
}

package dashboards

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
)

// joinedFindingsOpen is dash_findings_open as migration 0800 defined it:
// findings FINAL joined with the first sighting over every observation.
// Migration 0812 replaced it with a read of finding_lifecycle.
const joinedFindingsOpen = `CREATE VIEW %[1]s.joined_findings_open AS
SELECT tenant, repository, service, branch, fingerprint, severity, category, tool, rule_id, title,
  package_name, aliases, observed_at,
  if(age_first_seen = toDateTime(0), observed_at, age_first_seen) AS first_seen,
  (toInt64(toUnixTimestamp(now())) - toInt64(toUnixTimestamp(if(age_first_seen = toDateTime(0), observed_at, age_first_seen)))) / 86400 AS age_days
FROM (
  SELECT tenant, repository, service, branch, fingerprint, severity, category, tool, rule_id, title,
    package_name, aliases, observed_at
  FROM %[1]s.findings FINAL
) AS latest ANY LEFT JOIN (
  SELECT tenant, repository, fingerprint, first_seen AS age_first_seen FROM %[1]s.dash_finding_age
) AS age USING (tenant, repository, fingerprint)`

// The findings panels answer the same from the latest state
// (finding_lifecycle) as they did from the join over all observations, on
// findings the scorer stored as it does (each one's sightings, its latest
// row, its lifecycle); and a finding the lifecycle marks fixed drops out.
func TestFindingsPanelsReadLatestState(t *testing.T) {
	st := chtest.Store(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	db := st.Database()
	if err := st.Conn().Exec(ctx, fmt.Sprintf(joinedFindingsOpen, db)); err != nil {
		t.Fatal(err)
	}
	sev := []string{"critical", "high", "medium", "low"}
	for i := range 12 {
		tenant := "shop"
		if i == 11 {
			tenant = "other"
		}
		category := "vulnerability"
		if i%4 == 3 {
			category = "secret"
		}
		// Ages 0.3 to 120 days: every age column of the panels gets some.
		first := now.Add(-time.Duration(i*i)*24*time.Hour - 7*time.Hour)
		last := now.Add(-time.Duration(i) * time.Hour)
		storeFinding(t, st, tenant, fmt.Sprint("fp", i), sev[i%4], category, "open", first, last)
	}
	panels := findingsPanels(t)
	if len(panels) != 4 {
		t.Fatalf("%d panel targets read dash_findings_open, want 4 (Open findings, Median age, By severity and age, Oldest)", len(panels))
	}
	from, to := now.Add(-30*24*time.Hour), now.Add(time.Minute)
	for title, sql := range panels {
		sql = expand(sql, "shop", from, to)
		got := panelRows(t, st, sql)
		want := panelRows(t, st, strings.ReplaceAll(sql, "dash_findings_open", db+".joined_findings_open"))
		if len(got) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: latest state answers %v, the join over all observations %v", title, got, want)
		}
	}
	storeFinding(t, st, "shop", "fp-fixed", "critical", "vulnerability", "fixed", now.Add(-50*24*time.Hour), now.Add(-40*24*time.Hour))
	open := panelRows(t, st, expand(panels["Open findings"], "shop", from, to))
	if fmt.Sprint(open) != "[[11]]" {
		t.Errorf("Open findings with one more finding fixed: %v, want [[11]] (12 stored for shop, the fixed one not open)", open)
	}
}

// storeFinding writes one finding as the scorer does: two sightings
// (finding_observations), the newest row (findings) and its lifecycle.
func storeFinding(t *testing.T, st *store.Store, tenant, fp, severity, category, state string, first, last time.Time) {
	t.Helper()
	scope := func(id string, at time.Time) store.Scope {
		return store.Scope{Tenant: tenant, EventID: id, Repository: "github.com/shop/checkout-api", Branch: "main",
			Environment: "ci", Service: "payments", ObservedAt: at}
	}
	var findings store.FindingRows
	var observations store.FindingObservationRows
	findings.Append(store.Finding{Scope: scope("scan-last", last), Fingerprint: fp, Tool: "grype", RuleID: "CVE-2024-0001",
		Severity: severity, Category: category, Title: "CVE-2024-0001 in openssl " + fp, PackageName: "openssl", Aliases: []string{"CVE-2024-0001"}})
	for _, at := range []time.Time{first, last} {
		observations.Append(store.FindingObservation{Scope: scope(fmt.Sprint("scan-", at.Unix()), at), Fingerprint: fp, Tool: "grype",
			Severity: severity, Category: category})
	}
	if err := st.Insert(context.Background(), &findings, &observations); err != nil {
		t.Fatal(err)
	}
	storeLifecycle(t, st, tenant, fp, severity, category, state, first, last)
}

// storeLifecycle writes the lifecycle row of one finding of grype in
// github.com/shop/checkout-api, service payments, branch main.
func storeLifecycle(t *testing.T, st *store.Store, tenant, fp, severity, category, state string, first, last time.Time) {
	t.Helper()
	// Literal values: the driver sends an INSERT with arguments as a batch.
	err := st.Conn().Exec(context.Background(), fmt.Sprintf(`INSERT INTO %s.finding_lifecycle (tenant, repository, service, branch, tool, fingerprint,
		finding_key, state, first_seen, last_seen, last_report_id, report_at, severity, category, rule_id, title, package_name, aliases, sources)
		SELECT '%s', 'github.com/shop/checkout-api', 'payments', 'main', 'grype', '%s', '%[3]s', '%s', toDateTime(%d), toDateTime(%d),
		'scan-last', toDateTime(%[6]d), '%s', '%s', 'CVE-2024-0001', 'CVE-2024-0001 in openssl %[3]s', 'openssl', ['CVE-2024-0001'], ['grype']`,
		st.Database(), tenant, fp, state, first.Unix(), last.Unix(), severity, category))
	if err != nil {
		t.Fatal(err)
	}
}

// findingsPanels are the panel targets that read dash_findings_open, by title.
func findingsPanels(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, b := range Boards() {
		for _, p := range b.Panels {
			for _, tg := range p.Targets {
				if strings.Contains(tg.SQL, "dash_findings_open") {
					out[p.Title] = tg.SQL
				}
			}
		}
	}
	return out
}

// panelRows runs sql and returns its rows, floats to 3 decimals (an age in
// days moves by 1/86400 with each second between two runs).
func panelRows(t *testing.T, st *store.Store, sql string) [][]string {
	t.Helper()
	rows, err := st.Conn().Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(rows.ColumnTypes()))
		for i, ct := range rows.ColumnTypes() {
			vals[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			switch x := reflect.ValueOf(v).Elem().Interface().(type) {
			case float64:
				row[i] = fmt.Sprintf("%.3f", x)
			default:
				row[i] = fmt.Sprint(x)
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

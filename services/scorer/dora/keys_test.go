package dora_test

import (
	"testing"
	"time"

	"github.com/trilens/trilens/services/scorer/dora"
)

// TestComputeRollbackRevert: a rollback naming a deploy fails that deploy
// (not the last one), a revert fails the deploy before it, and a time of
// 1970 or a deploy outside production counts for nothing.
func TestComputeRollbackRevert(t *testing.T) {
	h := func(n int) time.Time { return monday.Add(time.Duration(n) * time.Hour) }
	dep := func(id string, n int, title string) dora.Change {
		return dora.Change{ID: id, Type: dora.TypeDeploy, Status: "success", Service: "api", Environment: "production",
			Commit: "sha-" + id, Title: title, Finished: h(n), Commits: []dora.Commit{{SHA: "sha-" + id, At: time.Unix(0, 0)}}}
	}
	changes := []dora.Change{
		dep("a", 1, "v1"), dep("b", 2, "v2"), dep("c", 3, "v3"), dep("d", 4, `Revert "v3"`),
		{ID: "rb", Type: dora.TypeRollback, Status: "success", Service: "api", Environment: "production", RollbackOf: "sha-a", Finished: h(5)},
		{ID: "x", Type: dora.TypeDeploy, Status: "success", Service: "api", Environment: "staging", Finished: h(6)},
		{ID: "inc", Type: dora.TypeIncident, Status: "open", Service: "api", Started: h(7)},
	}
	k := dora.Compute(changes, nil, dora.Window{Since: monday, Until: h(24)})
	if k.Deploys != 4 || k.FailedDeploys != 3 {
		t.Fatalf("deploys %d failed %d, want 4 and 3: %+v", k.Deploys, k.FailedDeploys, k.Failures)
	}
	want := map[string]string{"a": dora.CauseRollback, "c": dora.CauseRevert, "d": dora.CauseIncident}
	for _, f := range k.Failures {
		if want[f.Deploy] != f.Causes[0] {
			t.Errorf("deploy %s failed by %v, want %s", f.Deploy, f.Causes, want[f.Deploy])
		}
	}
	if k.LeadTimeCommits != 0 || k.OpenIncidents != 1 || k.Restores != 1 || k.RestoreMedianS != 4*3600 {
		t.Errorf("lead commits %d, open %d, restores %d (%v s): want 0, 1, and one restore of 4 h (a to its rollback)",
			k.LeadTimeCommits, k.OpenIncidents, k.Restores, k.RestoreMedianS)
	}
}

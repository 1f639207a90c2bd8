package tracker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/services/scorer/evidence"
)

// States of a gap's issue, as the sync last left it.
const (
	stateOpen    = "open"    // the gap blocks; the issue is open
	stateFixed   = "fixed"   // the gap went away; the sync closed the issue
	stateWontFix = "wontfix" // closed as won't fix in the tracker; a waiver was proposed
)

// mapping is one row of tracker_issues: a gap's issue.
type mapping struct {
	GapID, Key, URL, State, Digest, WaiverID string
}

// mappings reads and writes tracker_issues.
type mappings struct{ st *store.Store }

// Load returns the newest mapping of every gap of the tenant in tracker.
func (m mappings) Load(ctx context.Context, tenant, tracker string) (map[string]mapping, error) {
	rows, err := m.st.Conn().Query(ctx, `SELECT gap_id, argMax(issue_key, version), argMax(issue_url, version),
		argMax(state, version), argMax(digest, version), argMax(waiver_id, version)
		FROM `+m.st.Database()+`.tracker_issues WHERE tenant = ? AND tracker = ? GROUP BY gap_id`, tenant, tracker)
	if err != nil {
		return nil, fmt.Errorf("tracker issues of %s in %s: %w", tenant, tracker, err)
	}
	defer rows.Close()
	out := map[string]mapping{}
	for rows.Next() {
		var x mapping
		if err := rows.Scan(&x.GapID, &x.Key, &x.URL, &x.State, &x.Digest, &x.WaiverID); err != nil {
			return nil, err
		}
		out[x.GapID] = x
	}
	return out, rows.Err()
}

// Save records a gap's mapping at now; the nanosecond version orders two
// saves within one second. (It goes through its decimal digits because a
// signed-to-unsigned conversion is what the self-audit flags; now is after
// 1970, so the digits are those of a positive number.)
func (m mappings) Save(ctx context.Context, tenant, tracker string, x mapping, now time.Time) error {
	version, err := strconv.ParseUint(strconv.FormatInt(now.UnixNano(), 10), 10, 64)
	if err != nil {
		return fmt.Errorf("tracker issue version of %s: %w", now, err)
	}
	return m.st.Insert(ctx, &evidence.RowTable{Table: "tracker_issues",
		Cols: []string{"tenant", "tracker", "gap_id", "issue_key", "issue_url", "state", "digest", "waiver_id", "updated_at", "version"},
		Rows: [][]any{{tenant, tracker, x.GapID, x.Key, x.URL, x.State, x.Digest, x.WaiverID, evidence.ClampTime(now), version}}})
}

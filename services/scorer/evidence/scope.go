package evidence

import (
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	scorev1 "github.com/trilens/trilens/proto/trilens/score/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Lenses, as KPI points and verdicts name them.
const (
	LensPerformance = "performance"
	LensSecurity    = "security"
	LensScalability = "scalability"
)

// EnumName is the lower-case short name of an enum value (SEVERITY_HIGH ->
// "high"); unspecified is "".
func EnumName(v fmt.Stringer, prefix string) string {
	s := strings.TrimPrefix(v.String(), prefix)
	if s == "UNSPECIFIED" {
		return ""
	}
	return strings.ToLower(s)
}

// DateTime holds 1970-01-01 to 2106-02-07; times outside are clamped so one
// bad timestamp cannot fail the insert of a whole batch. MinDateTime also
// stands for "not yet" and "missing".
var (
	MinDateTime = time.Unix(0, 0).UTC()
	maxDateTime = time.Unix(1<<32-1, 0).UTC()
)

// ClampTime is t in UTC within what a DateTime column holds.
func ClampTime(t time.Time) time.Time {
	switch {
	case t.Before(MinDateTime):
		return MinDateTime
	case t.After(maxDateTime):
		return maxDateTime
	}
	return t.UTC()
}

// TimeOf is a protobuf timestamp in UTC; missing is the Unix epoch.
func TimeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return MinDateTime
	}
	return ClampTime(ts.AsTime())
}

// UnixNano is a clamped time from nanoseconds since the epoch.
func UnixNano(n int64) time.Time { return ClampTime(time.Unix(0, n)) }

// Or is s, or fallback when s is empty.
func Or(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}

// ScopeOf is the scope columns of the rows derived from an event.
func ScopeOf(env *eventv1.Envelope) store.Scope {
	sub := env.GetSubject()
	return store.Scope{
		Tenant:      env.GetTenant(),
		EventID:     env.GetEventId(),
		Repository:  sub.GetRepository(),
		Commit:      sub.GetCommit(),
		Branch:      sub.GetBranch(),
		Environment: EnumName(sub.GetEnvironment(), "ENVIRONMENT_"),
		Service:     sub.GetService(),
		Journey:     sub.GetJourney(),
		ObservedAt:  ObservedAt(env),
	}
}

// ObservedAt is the time Rows.Add files an event under (received when not observed).
func ObservedAt(env *eventv1.Envelope) time.Time {
	if env.GetObservedAt() == nil {
		return TimeOf(env.GetReceivedAt())
	}
	return TimeOf(env.GetObservedAt())
}

// StatusOf is a KPI point's status.
// StatusUnknown is the status of a budget on a metric the evidence did not
// measure: absent is not zero, so it neither passes nor fails.
const StatusUnknown = "unknown"

func StatusOf(pass bool) string {
	if pass {
		return "pass"
	}
	return "fail"
}

// NonNil is s, or an empty slice for an Array column.
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// VerdictRowOf is the verdicts-table row of a verdict event of any lens.
func VerdictRowOf(ev *eventv1.Event, lens string) store.Verdict {
	v := ev.GetVerdict()
	return store.Verdict{
		Scope: ScopeOf(ev.GetEnvelope()), VerdictID: v.GetVerdictId(), Lens: lens, KPI: v.GetKpi(), KPIScope: v.GetScope(),
		Status: EnumName(v.GetStatus(), "STATUS_"), Reason: v.GetReason(), Value: v.GetValue(), Baseline: v.GetBaseline(),
		Budget: v.GetBudget(), Test: v.GetTest(), PValue: v.GetPValue(), Owner: v.GetOwner(), Summary: v.GetSummary(),
		EvidenceIDs: NonNil(v.GetEvidenceIds()),
	}
}

// LensEnum is the protobuf lens of a lens name.
func LensEnum(lens string) scorev1.Lens {
	switch lens {
	case LensPerformance:
		return scorev1.Lens_LENS_PERFORMANCE
	case LensSecurity:
		return scorev1.Lens_LENS_SECURITY
	case LensScalability:
		return scorev1.Lens_LENS_SCALABILITY
	}
	return scorev1.Lens_LENS_UNSPECIFIED
}

// RowTable is a small table appended row by row (catalogues, scored marks,
// ledger changes).
type RowTable struct {
	Table string
	Cols  []string
	Rows  [][]any
}

func (r *RowTable) Name() string      { return r.Table }
func (r *RowTable) Columns() []string { return r.Cols }
func (r *RowTable) Len() int          { return len(r.Rows) }
func (r *RowTable) Reset()            { r.Rows = nil }
func (r *RowTable) AppendTo(b driver.Batch) error {
	for _, row := range r.Rows {
		if err := b.Append(row...); err != nil {
			return err
		}
	}
	return nil
}

var _ store.Table = (*RowTable)(nil)

// Selector narrows a query over tables with the scope columns to a tenant
// and, where not empty, a repository, service, branch and commit.
type Selector struct {
	Tenant, Repository, Service, Branch, Commit string
}

// Where is the WHERE clause of the selector and its arguments; the commit
// counts only withCommit.
func (s Selector) Where(withCommit bool) (string, []any) {
	conds, args := []string{"tenant = ?"}, []any{s.Tenant}
	for _, c := range []struct {
		col, v string
	}{{"repository", s.Repository}, {"service", s.Service}, {"branch", s.Branch}} {
		if c.v != "" {
			conds, args = append(conds, c.col+" = ?"), append(args, c.v)
		}
	}
	if withCommit && s.Commit != "" {
		conds, args = append(conds, "commit = ?"), append(args, s.Commit)
	}
	return strings.Join(conds, " AND "), args
}

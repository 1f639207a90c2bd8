package trace

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/store"
)

// The queries other parts of the scorer ask of the trace tables.

// Detection is a pattern the trace collector found (N+1 queries, serial
// calls, synchronous third-party calls, slow statements), as last seen.
type Detection struct {
	Service, Journey, Type, Fingerprint, Operation string
	FirstSeen                                      time.Time
	// Affected is the traces it touched, Savings the time a fix saves in all.
	Affected, Savings float64
}

// Detections reads the tenant's detections seen since, of one service when
// service is not empty.
func Detections(ctx context.Context, st *store.Store, tenant, service string, since time.Time) ([]Detection, error) {
	conds, args := sinceWhere(tenant, service, since, "last_seen")
	rows, err := st.Conn().Query(ctx, `SELECT service, journey, type, fingerprint, operation, first_seen, traces_affected, savings_total_ms
		FROM `+st.Database()+`.trace_findings WHERE `+conds, args...)
	if err != nil {
		return nil, fmt.Errorf("detection items: %w", err)
	}
	defer rows.Close()
	var out []Detection
	for rows.Next() {
		var d Detection
		if err := rows.Scan(&d.Service, &d.Journey, &d.Type, &d.Fingerprint, &d.Operation, &d.FirstSeen, &d.Affected, &d.Savings); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Requests counts the requests of each journey (key: service + "\x00" +
// journey) in windows since, of one service when service is not empty.
func Requests(ctx context.Context, st *store.Store, tenant, service string, since time.Time) (map[string]float64, error) {
	conds, args := sinceWhere(tenant, service, since, "window_start")
	rows, err := st.Conn().Query(ctx, `SELECT service, journey, sum(count) FROM `+st.Database()+`.journey_latency
		WHERE `+conds+` GROUP BY service, journey`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var svc, j string
		var n float64
		if err := rows.Scan(&svc, &j, &n); err != nil {
			return nil, err
		}
		out[svc+"\x00"+j] = n
	}
	return out, nil
}

func sinceWhere(tenant, service string, since time.Time, col string) (string, []any) {
	conds, args := "tenant = ? AND "+col+" >= ?", []any{tenant, since}
	if service != "" {
		conds, args = conds+" AND service = ?", append(args, service)
	}
	return conds, args
}

// JourneyKey names one journey as its entry service serves it in one environment.
type JourneyKey struct{ Tenant, Environment, Service, Journey string }

// ErrorSums reads, for each of windows, the requests and errors of the
// journey's windows that start within it before end, among those of the
// span before end: requests of windows[0], errors of windows[0], requests
// of windows[1], and so on.
func ErrorSums(ctx context.Context, st *store.Store, k JourneyKey, end time.Time, span time.Duration, windows []time.Duration) ([]float64, error) {
	var cols []string
	var args []any
	for _, w := range windows {
		cols = append(cols, "sumIf(count, window_start >= ?)", "sumIf(errors, window_start >= ?)")
		from := end.Add(-w)
		args = append(args, from, from)
	}
	args = append(args, k.Tenant, k.Service, k.Journey, k.Environment, end.Add(-span), end)
	row := st.Conn().QueryRow(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+st.Database()+`.journey_latency FINAL
		WHERE tenant = ? AND service = ? AND journey = ? AND environment = ? AND window_start >= ? AND window_start < ?`, args...)
	sums := make([]float64, 2*len(windows))
	dest := make([]any, len(sums))
	for i := range sums {
		dest[i] = &sums[i]
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	return sums, nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Retention says how long each table keeps its rows, by the time column
// the table is partitioned on (RetentionColumns). Tables not named keep
// their rows.
//
// On servers with TTL (19.6+) it becomes each table's TTL clause and
// ClickHouse removes expired rows itself. Debian's 18.16 has no TTL: there a
// job (StartRetention) drops a table's monthly partitions once the whole
// month has expired, so rows live at most a month longer than their period.
type Retention map[string]Period

// RetentionColumns are the tables retention applies to and the column each
// is partitioned on by month (toYYYYMM), which both the TTL and the
// partition-dropping job count from. Latest-state tables (findings,
// waivers, lifecycle, catalogues) are left out: their rows are current.
var RetentionColumns = map[string]string{
	"evidence_log":         "observed_at",
	"finding_observations": "observed_at",
	"components":           "observed_at",
	"artifacts":            "observed_at",
	"journey_latency":      "window_start",
	"hop_latency":          "window_start",
	"trace_detections":     "observed_at",
	"load_runs":            "observed_at",
	"load_steps":           "observed_at",
	"web_vitals":           "observed_at",
	"changes":              "observed_at",
	"kpi_points":           "observed_at",
	"kpi_points_by_commit": "observed_at",
	"kpi_daily":            "day",
	"kpi_hourly":           "hour",
	"journey_hourly":       "hour",
	"hop_hourly":           "hour",
	"verdicts":             "observed_at",
	"scan_report_findings": "observed_at",
	"sbom_violations":      "observed_at",
	"sbom_diffs":           "observed_at",
}

// Period is a retention period: whole days ("400d") or a Go duration.
type Period time.Duration

// ParsePeriod reads "400d" or a Go duration ("720h").
func ParsePeriod(s string) (Period, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(d, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("period %q: want whole days (400d) or a duration (720h)", s)
		}
		return Period(time.Duration(n) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("period %q: want whole days (400d) or a duration (720h)", s)
	}
	return Period(d), nil
}

func (p Period) String() string {
	if d := time.Duration(p); d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return time.Duration(p).String()
}

// UnmarshalText reads a period from YAML.
func (p *Period) UnmarshalText(b []byte) error {
	v, err := ParsePeriod(string(b))
	*p = v
	return err
}

// MarshalText writes a period as ParsePeriod reads it.
func (p Period) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// String lists the periods as the flag takes them: table=period,...
func (r Retention) String() string {
	var parts []string
	for _, t := range slices.Sorted(maps.Keys(r)) {
		parts = append(parts, t+"="+r[t].String())
	}
	return strings.Join(parts, ",")
}

// Set reads table=period,... (the flag's syntax), adding to what is set.
func (r *Retention) Set(s string) error {
	if *r == nil {
		*r = Retention{}
	}
	for _, part := range strings.Split(s, ",") {
		table, period, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("retention %q: want table=period, e.g. evidence_log=400d", part)
		}
		p, err := ParsePeriod(period)
		if err != nil {
			return err
		}
		(*r)[table] = p
	}
	return nil
}

// MaxPeriod bounds a retention period: DateTime ends in 2106, and a TTL
// whose observed_at + period passes that wraps into the past and expires
// every row at once.
const MaxPeriod = Period(20 * 365 * 24 * time.Hour)

// Validate reports tables retention does not apply to and periods under a
// day or over MaxPeriod.
func (r Retention) Validate() error {
	var errs []error
	for _, t := range slices.Sorted(maps.Keys(r)) {
		if _, ok := RetentionColumns[t]; !ok {
			errs = append(errs, fmt.Errorf("retention: %s is not a table with time partitions (%s)", t, strings.Join(slices.Sorted(maps.Keys(RetentionColumns)), ", ")))
		} else if r[t] < Period(24*time.Hour) {
			errs = append(errs, fmt.Errorf("retention: %s: %s is under a day", t, r[t]))
		} else if r[t] > MaxPeriod {
			errs = append(errs, fmt.Errorf("retention: %s: %s is over %s (DateTime ends in 2106)", t, r[t], MaxPeriod))
		}
	}
	return errors.Join(errs...)
}

// ttlClause is the TTL expression of a table kept for p.
func ttlClause(column string, p Period) string {
	d := time.Duration(p)
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%s + INTERVAL %d DAY", column, d/(24*time.Hour))
	}
	return fmt.Sprintf("%s + INTERVAL %d SECOND", column, d/time.Second)
}

// HasTTL reports whether a table's CREATE statement, as system.tables
// shows it, already has the TTL that keeping it for p gives. Servers print
// the interval as toIntervalDay(n) (or toIntervalSecond(n)), not as written.
func HasTTL(create, table string, p Period) bool {
	col, ok := RetentionColumns[table]
	if !ok {
		return false
	}
	d := time.Duration(p)
	printed := fmt.Sprintf("TTL %s + toIntervalSecond(%d)", col, d/time.Second)
	if d%(24*time.Hour) == 0 {
		printed = fmt.Sprintf("TTL %s + toIntervalDay(%d)", col, d/(24*time.Hour))
	}
	written := "TTL " + ttlClause(col, p)
	for _, ttl := range []string{printed, written} {
		if i := strings.Index(create, ttl); i >= 0 {
			// Not a longer number or a further expression.
			rest := create[i+len(ttl):]
			return rest == "" || !strings.ContainsAny(rest[:1], "0123456789+-*/")
		}
	}
	return false
}

// RetentionStatements are the ALTER statements that give the tables of r
// their TTL on a server with caps, in table order; none before 19.6.
func RetentionStatements(db string, caps Capabilities, r Retention) []string {
	if !caps.TTL {
		return nil
	}
	var out []string
	for _, t := range slices.Sorted(maps.Keys(r)) {
		if col, ok := RetentionColumns[t]; ok {
			out = append(out, "ALTER TABLE "+db+"."+t+" MODIFY TTL "+ttlClause(col, r[t]))
		}
	}
	return out
}

// ApplyRetention gives each table of r its TTL on servers that have TTL,
// skipping tables whose TTL is already that; before 19.6 it drops expired
// partitions instead (DropExpired). Tables no longer named keep the TTL
// they had: removing one is a deliberate ALTER TABLE ... REMOVE TTL.
func (s *Store) ApplyRetention(ctx context.Context, r Retention, now time.Time) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if !s.caps.TTL {
		_, err := s.DropExpired(ctx, r, now)
		return err
	}
	for _, t := range slices.Sorted(maps.Keys(r)) {
		var create string
		local := localTable(t, s.cluster) // the rows live in the replicated table
		err := s.conn.QueryRow(ctx, "SELECT create_table_query FROM system.tables WHERE database = ? AND name = ?", s.db, local).Scan(&create)
		if err != nil {
			return fmt.Errorf("retention of %s: %w", t, err)
		}
		if HasTTL(create, t, r[t]) {
			continue
		}
		stmt := RetentionStatements(s.db, s.caps, Retention{t: r[t]})[0]
		if s.cluster != "" {
			stmt = "ALTER TABLE " + s.db + "." + local + onCluster(s.cluster) + strings.TrimPrefix(stmt, "ALTER TABLE "+s.db+"."+t)
		}
		if err := s.conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("retention of %s: %w", t, err)
		}
	}
	return nil
}

// DropExpired drops, from each table of r, the monthly partitions whose
// whole month ended before now minus the table's period, and returns them
// as table/partition. It is the retention of servers without TTL.
func (s *Store) DropExpired(ctx context.Context, r Retention, now time.Time) ([]string, error) {
	var dropped []string
	for _, t := range slices.Sorted(maps.Keys(r)) {
		if _, ok := RetentionColumns[t]; !ok {
			continue
		}
		cutoff := now.Add(-time.Duration(r[t])).UTC()
		local := localTable(t, s.cluster)
		rows, err := s.conn.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active", s.db, local)
		if err != nil {
			return dropped, fmt.Errorf("partitions of %s: %w", t, err)
		}
		var expired []string
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return dropped, err
			}
			month, err := time.Parse("200601", p)
			if err != nil {
				rows.Close()
				return dropped, fmt.Errorf("partition %s of %s is not a month (YYYYMM)", p, t)
			}
			if !month.AddDate(0, 1, 0).After(cutoff) {
				expired = append(expired, p)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dropped, err
		}
		for _, p := range expired {
			// On a cluster every replica of every shard drops it.
			if err := s.conn.Exec(ctx, "ALTER TABLE "+s.db+"."+local+onCluster(s.cluster)+" DROP PARTITION "+p); err != nil {
				return dropped, fmt.Errorf("drop partition %s of %s: %w", p, t, err)
			}
			dropped = append(dropped, t+"/"+p)
		}
	}
	return dropped, nil
}

// StartRetention applies r now and then every interval until the Store
// is closed: on 18.16 the partition-dropping job, elsewhere a check of the
// TTLs. Failures are logged; the next run tries again.
func (s *Store) StartRetention(r Retention, every time.Duration, log *slog.Logger) {
	if len(r) == 0 || s.stopRetention != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.stopRetention = func() { cancel(); <-done }
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if err := s.ApplyRetention(ctx, r, time.Now()); err != nil && ctx.Err() == nil {
				log.Warn("retention failed; retrying later", "err", err, "next", every)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

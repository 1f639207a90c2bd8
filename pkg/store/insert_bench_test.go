package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
)

// BenchmarkInsertFindings inserts batches of 50k finding observations (the
// scorer's batch size), column by column, and reports rows/s.
func BenchmarkInsertFindings(b *testing.B) {
	ctx := context.Background()
	st := chtest.Store(b)
	const batch = 50_000
	var rows store.FindingObservationRows
	now := time.Now()
	for i := range batch {
		rows.Append(store.FindingObservation{
			Scope: store.Scope{Tenant: "acme", EventID: fmt.Sprintf("ev-%d", i/100), Repository: "github.com/acme/shop",
				Branch: "main", Environment: "ci", Service: "checkout", ObservedAt: now},
			Fingerprint: fmt.Sprintf("fp-%d", i), ReportID: "r1", Tool: "trivy", RuleID: "CVE-2026-1", Severity: "high", Category: "vulnerability",
		})
	}
	b.ResetTimer()
	for range b.N {
		if err := st.Insert(ctx, &rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
}

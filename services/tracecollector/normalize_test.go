package tracecollector

import (
	"math"
	"testing"
)

func TestNormalizeSQL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT * FROM items WHERE id = 42", "SELECT * FROM items WHERE id = ?"},
		{"select *\n  from t1\twhere name = 'o''brien' and x=3.5e2", "select * from t1 where name = ? and x=?"},
		{"SELECT a FROM t WHERE id IN (1, 2, 3) AND b IN ($1,$2)", "SELECT a FROM t WHERE id IN (?) AND b IN (?)"},
		{`SELECT "col1" FROM t2 WHERE h = 0x1F`, `SELECT "col1" FROM t2 WHERE h = ?`},
		{"'unterminated", "?"},
	} {
		if got := normalizeSQL(tc.in); got != tc.want {
			t.Errorf("normalizeSQL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWeightFromTraceState(t *testing.T) {
	for _, tc := range []struct {
		ts   string
		want float64
	}{
		{"", 1},
		{"vendor=x", 1},
		{"ot=th:8", 2},                   // rejects half: p = 1/2
		{"ot=th:c", 4},                   // rejects 3/4
		{"ot=rv:abcdef01234567;th:e", 8}, // other sub-keys first
		{"a=b,ot=th:0", 1},               // threshold 0: everything kept
		{"ot=th:zz", 1},
	} {
		if got := weightFromTraceState(tc.ts); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("weightFromTraceState(%q) = %v, want %v", tc.ts, got, tc.want)
		}
	}
}

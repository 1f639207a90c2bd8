package store

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// Capabilities are the features a server version has that the schema uses
// when present. Migrations are templates rendered against them, e.g.
//
//	tenant {{.LowCardinality "String"}},
//	...) ENGINE = MergeTree() ORDER BY ... {{if .TTL}}TTL observed_at + INTERVAL 1 YEAR{{end}}
type Capabilities struct {
	Major, Minor, Patch uint64
	// LowCard: LowCardinality(T) without the experimental setting (19.3).
	LowCard bool
	// TTL: column and table TTL clauses (19.6).
	TTL bool
	// DateTime64: sub-second timestamps (20.1).
	DateTime64 bool
}

// CapabilitiesOf derives the capabilities from a server version.
func CapabilitiesOf(v proto.Version) Capabilities {
	c := Capabilities{Major: v.Major, Minor: v.Minor, Patch: v.Patch}
	c.LowCard = c.AtLeast(19, 3)
	c.TTL = c.AtLeast(19, 6)
	c.DateTime64 = c.AtLeast(20, 1)
	return c
}

// AtLeast reports whether the version is major.minor or later.
func (c Capabilities) AtLeast(major, minor uint64) bool {
	return c.Major > major || c.Major == major && c.Minor >= minor
}

// LowCardinality wraps typ in LowCardinality() when the server has it.
func (c Capabilities) LowCardinality(typ string) string {
	if c.LowCard {
		return "LowCardinality(" + typ + ")"
	}
	return typ
}

func (c Capabilities) String() string { return fmt.Sprintf("%d.%d.%d", c.Major, c.Minor, c.Patch) }

// ParseVersion reads a version as version() prints it: 26.7.2.1.
func ParseVersion(s string) (proto.Version, error) {
	var v proto.Version
	parts := strings.SplitN(strings.TrimSpace(s), ".", 4)
	if len(parts) < 2 {
		return v, fmt.Errorf("clickhouse version %q: want major.minor[.patch]", s)
	}
	var err error
	fields := []*uint64{&v.Major, &v.Minor, &v.Patch}
	for i := 0; i < len(parts) && i < 3; i++ {
		if *fields[i], err = strconv.ParseUint(parts[i], 10, 64); err != nil {
			return v, fmt.Errorf("clickhouse version %q: %w", s, err)
		}
	}
	return v, nil
}

package dashboards

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/trilens/trilens/pkg/kpinames"
)

// Board is a dashboard as data: panels in reading order, laid out left to
// right on Grafana's 24-column grid.
type Board struct {
	UID         string
	Title       string
	Description string
	Panels      []Panel
}

// Panel kinds.
const (
	KindStat       = "stat"
	KindTable      = "table"
	KindTimeSeries = "timeseries"
)

// Panel is one panel and its queries.
type Panel struct {
	Title       string
	Description string
	Kind        string
	Unit        string
	W, H        uint32
	Targets     []Target
}

// Target is one query of a panel. SQL reads the dash_* views, or a rollup
// table where a time range must reach the table (18.16 pushes none into a
// view); it may use the ${tenant} variable and the data source's
// $__fromTime and $__toTime macros.
// Columns are the columns it must return, checked against a real ClickHouse.
type Target struct {
	SQL     string
	Columns []string
}

// Variable is the dashboard variable every query filters on.
const tenantVariable = "tenant"

// Build turns b into a Grafana dashboard with the foundation SDK's builders.
func (b Board) Build() (dashboard.Dashboard, error) {
	ds := datasource()
	tenant := dashboard.NewQueryVariableBuilder(tenantVariable).
		Label("Tenant").
		Datasource(ds).
		Query(dashboard.StringOrMap{String: cog.ToPtr("SELECT DISTINCT tenant FROM dash_kpi_points ORDER BY tenant")}).
		Refresh(dashboard.VariableRefreshOnDashboardLoad)
	db := dashboard.NewDashboardBuilder(b.Title).
		Uid(b.UID).
		Description(b.Description).
		Tags([]string{"trilens"}).
		Timezone("utc").
		Time("now-30d", "now").
		Refresh("5m").
		Readonly().
		WithVariable(tenant)
	var x, y, rowH uint32
	for i, p := range b.Panels {
		if x+p.W > 24 {
			x, y, rowH = 0, y+rowH, 0
		}
		pos := dashboard.GridPos{X: x, Y: y, W: p.W, H: p.H}
		x += p.W
		rowH = max(rowH, p.H)
		built, err := p.build(uint32(i+1), pos, ds)
		if err != nil {
			return dashboard.Dashboard{}, fmt.Errorf("%s: panel %q: %w", b.UID, p.Title, err)
		}
		db.WithPanel(built)
	}
	return db.Build()
}

// panelBuilder is what the SDK's stat, table and time-series builders share.
type panelBuilder = cog.Builder[dashboard.Panel]

func (p Panel) build(id uint32, pos dashboard.GridPos, ds common.DataSourceRef) (panelBuilder, error) {
	format := FormatTable
	if p.Kind == KindTimeSeries {
		format = FormatTimeSeries
	}
	var targets []*Query
	for i, t := range p.Targets {
		ref := ds
		targets = append(targets, &Query{RefID: string(rune('A' + i)), Datasource: &ref, EditorType: "sql", Format: format, RawSQL: t.SQL})
	}
	switch p.Kind {
	case KindStat:
		b := stat.NewPanelBuilder().Id(id).Title(p.Title).Description(p.Description).Datasource(ds).GridPos(pos).Unit(p.Unit).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Fields("/.*/"))
		for _, q := range targets {
			b.WithTarget(q)
		}
		return b, nil
	case KindTable:
		b := table.NewPanelBuilder().Id(id).Title(p.Title).Description(p.Description).Datasource(ds).GridPos(pos).Unit(p.Unit).
			Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"})).
			Mappings(kpiMappings())
		for _, q := range targets {
			b.WithTarget(q)
		}
		return b, nil
	case KindTimeSeries:
		b := timeseries.NewPanelBuilder().Id(id).Title(p.Title).Description(p.Description).Datasource(ds).GridPos(pos).Unit(p.Unit)
		for _, q := range targets {
			b.WithTarget(q)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown panel kind %q", p.Kind)
}

// kpiMappings shows KPI identifiers in tables by their names from the
// table the CLI and the built-in page share.
func kpiMappings() []dashboard.ValueMapping {
	opts := map[string]dashboard.ValueMappingResult{}
	for i, id := range kpinames.All() {
		opts[id] = dashboard.ValueMappingResult{Text: cog.ToPtr(kpinames.Name(id)), Index: cog.ToPtr(int32(i))}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}}
}

// JSON renders a dashboard as committed under dashboards/.
func JSON(d dashboard.Dashboard) ([]byte, error) {
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

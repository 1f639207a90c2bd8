package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
)

// The data source every panel and alert rule queries: provisioned from
// deploy/grafana/provisioning/datasources/clickhouse.yaml under this uid.
const (
	DataSourceType = "grafana-clickhouse-datasource"
	DataSourceUID  = "trilens-clickhouse"
)

// Query formats of the ClickHouse data source (sqlds): a time series is
// turned from long (time, label, value) into one series per label.
const (
	FormatTimeSeries = 0
	FormatTable      = 1
)

// Query is a ClickHouse data source query. The foundation SDK has no type
// for this plugin, so this one implements its Dataquery variant; it is
// registered with the SDK's runtime so strict decoding of a dashboard checks
// our targets field by field.
type Query struct {
	RefID      string                `json:"refId"`
	Datasource *common.DataSourceRef `json:"datasource,omitempty"`
	EditorType string                `json:"editorType"`
	Format     int                   `json:"format"`
	RawSQL     string                `json:"rawSql"`
}

// ImplementsDataqueryVariant marks Query as a dashboard target.
func (q *Query) ImplementsDataqueryVariant() {}

// DataqueryType is the plugin id.
func (q *Query) DataqueryType() string { return DataSourceType }

// Validate checks what the plugin needs to run the query.
func (q *Query) Validate() error {
	var errs []error
	if q.RefID == "" {
		errs = append(errs, errors.New("refId is empty"))
	}
	if q.RawSQL == "" {
		errs = append(errs, errors.New("rawSql is empty"))
	}
	if q.Format != FormatTimeSeries && q.Format != FormatTable {
		errs = append(errs, errors.New("format must be 0 (time series) or 1 (table)"))
	}
	return errors.Join(errs...)
}

// Equals compares two queries.
func (q *Query) Equals(other variants.Dataquery) bool {
	o, ok := other.(*Query)
	if !ok {
		return false
	}
	a, _ := json.Marshal(q)
	b, _ := json.Marshal(o)
	return bytes.Equal(a, b)
}

// Build makes Query its own builder for the SDK's WithTarget.
func (q *Query) Build() (variants.Dataquery, error) {
	if err := q.Validate(); err != nil {
		return nil, cog.MakeBuildErrors("ClickHouseQuery", err)
	}
	return q, nil
}

func datasource() common.DataSourceRef {
	t, uid := DataSourceType, DataSourceUID
	return common.DataSourceRef{Type: &t, Uid: &uid}
}

// variantConfig tells the SDK's runtime how to decode our targets.
func variantConfig() variants.DataqueryConfig {
	decode := func(strict bool) func([]byte) (variants.Dataquery, error) {
		return func(raw []byte) (variants.Dataquery, error) {
			q := &Query{}
			dec := json.NewDecoder(bytes.NewReader(raw))
			if strict {
				dec.DisallowUnknownFields()
			}
			if err := dec.Decode(q); err != nil {
				return nil, err
			}
			if strict {
				if err := q.Validate(); err != nil {
					return nil, err
				}
			}
			return q, nil
		}
	}
	return variants.DataqueryConfig{
		Identifier:                 DataSourceType,
		DataqueryUnmarshaler:       decode(false),
		StrictDataqueryUnmarshaler: decode(true),
	}
}

var registerOnce sync.Once

// register adds the SDK's own panel and query types and ours to the SDK's
// runtime, once, before anything decodes a dashboard.
func register() {
	registerOnce.Do(func() {
		plugins.RegisterDefaultPlugins()
		cog.NewRuntime().RegisterDataqueryVariant(variantConfig())
	})
}

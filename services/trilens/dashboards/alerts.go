package dashboards

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/policy"
)

// AlertRule is a Grafana-managed alert rule in the shape of Grafana's
// provisioning API (ProvisionedAlertRule); the YAML tags give the shape of
// a provisioning file's rule.
type AlertRule struct {
	UID          string            `json:"uid" yaml:"uid"`
	Title        string            `json:"title" yaml:"title"`
	RuleGroup    string            `json:"ruleGroup" yaml:"-"`
	Condition    string            `json:"condition" yaml:"condition"`
	Data         []AlertQuery      `json:"data" yaml:"data"`
	NoDataState  string            `json:"noDataState" yaml:"noDataState"`
	ExecErrState string            `json:"execErrState" yaml:"execErrState"`
	For          string            `json:"for" yaml:"for"`
	Annotations  map[string]string `json:"annotations" yaml:"annotations"`
	Labels       map[string]string `json:"labels" yaml:"labels"`
}

// AlertQuery is one query or expression of a rule.
type AlertQuery struct {
	RefID             string            `json:"refId" yaml:"refId"`
	RelativeTimeRange RelativeTimeRange `json:"relativeTimeRange" yaml:"relativeTimeRange"`
	DatasourceUID     string            `json:"datasourceUid" yaml:"datasourceUid"`
	Model             map[string]any    `json:"model" yaml:"model"`
}

// RelativeTimeRange is in seconds before now.
type RelativeTimeRange struct {
	From int64 `json:"from" yaml:"from"`
	To   int64 `json:"to" yaml:"to"`
}

// Rule groups; Grafana evaluates a group's rules together at its interval.
const (
	GroupBudgets   = "trilens-budgets"
	GroupBurnRates = "trilens-burn-rates"
	// RuleInterval is how often the groups are evaluated.
	RuleInterval = "1m"
)

// AlertTarget is the SQL of one alert rule query, for the ClickHouse check.
type AlertTarget struct {
	Rule string
	Target
}

// AlertRules derives the alert rules of a tenant from its policy: one for
// any KPI over its budget, and for every journey SLO the multi-window burn
// rates it declares (both windows must burn faster than the factor).
func AlertRules(p *policy.Policy) []AlertRule {
	tenant := p.Tenant
	rules := []AlertRule{{
		UID:       ruleUID(tenant, "budget-breach"),
		Title:     "Budget breach",
		RuleGroup: GroupBudgets,
		Condition: "B",
		Data: []AlertQuery{
			sqlQuery("A", 24*time.Hour, budgetSQL(tenant)),
			threshold("B", "A", 0),
		},
		NoDataState:  "OK",
		ExecErrState: "Error",
		For:          "0s",
		Annotations: map[string]string{
			"summary":     "{{ .Labels.kpi }} on {{ .Labels.scope }} is over budget",
			"description": "The latest {{ .Labels.lens }} KPI point of {{ .Labels.scope }} failed its budget; owner {{ .Labels.owner }}.",
		},
		Labels: map[string]string{"tenant": tenant, "source": "trilens", "severity": "critical"},
	}}
	for _, j := range p.Journeys {
		if j.SLO == nil {
			continue
		}
		for _, br := range j.SLO.BurnRates {
			long, short := br.Window, br.ShortWindow
			factor := strconv.FormatFloat(br.Factor, 'f', -1, 64)
			rules = append(rules, AlertRule{
				UID:       ruleUID(tenant, "burn", j.Name, long.String()),
				Title:     fmt.Sprintf("SLO burn rate: %s over %s and %s", j.Name, long, short),
				RuleGroup: GroupBurnRates,
				Condition: "B",
				Data: []AlertQuery{
					sqlQuery("A", long, burnSQL(tenant, j.Name, j.SLO.Objective, long, short)),
					threshold("B", "A", br.Factor),
				},
				NoDataState:  "OK",
				ExecErrState: "Error",
				For:          "0s",
				Annotations: map[string]string{
					"summary": fmt.Sprintf("Journey %s burns its %g%% error budget more than %sx too fast", j.Name, j.SLO.Objective, factor),
				},
				Labels: map[string]string{"tenant": tenant, "source": "trilens", "severity": "critical", "journey": j.Name},
			})
		}
	}
	return rules
}

// AlertTargets lists the SQL of every rule, with the columns it returns.
func AlertTargets(p *policy.Policy) []AlertTarget {
	var out []AlertTarget
	for _, r := range AlertRules(p) {
		for _, q := range r.Data {
			if sql, ok := q.Model["rawSql"].(string); ok {
				cols := []string{"lens", "kpi", "scope", "owner", "breached"}
				if r.RuleGroup == GroupBurnRates {
					cols = []string{"journey", "burn_rate"}
				}
				out = append(out, AlertTarget{Rule: r.Title + " " + q.RefID, Target: Target{SQL: sql, Columns: cols}})
			}
		}
	}
	return out
}

func budgetSQL(tenant string) string {
	return "SELECT lens, kpi, scope, owner, toFloat64(status = 'fail') AS breached FROM dash_kpi_latest WHERE tenant = " + quote(tenant) +
		" AND updated_at >= now() - INTERVAL 1 DAY"
}

// burnSQL is the error-budget burn rate of a journey over both windows:
// the error ratio divided by the ratio the objective allows, the smaller of
// the long and the short window's, so it exceeds the factor only when both
// do (the multiwindow alert of the SRE workbook) with one query.
func burnSQL(tenant, journey string, objective float64, long, short time.Duration) string {
	allowed := strconv.FormatFloat(1-objective/100, 'g', 6, 64)
	ratio := func(window time.Duration) string {
		in := fmt.Sprintf("window_start >= now() - INTERVAL %d SECOND", int64(window.Seconds()))
		return fmt.Sprintf("if(sumIf(count, %[1]s) > 0, sumIf(errors, %[1]s) / sumIf(count, %[1]s), 0)", in)
	}
	return fmt.Sprintf("SELECT journey, least(%s, %s) / %s AS burn_rate FROM dash_journey_windows "+
		"WHERE tenant = %s AND journey = %s AND window_start >= now() - INTERVAL %d SECOND GROUP BY journey",
		ratio(long), ratio(short), allowed, quote(tenant), quote(journey), int64(long.Seconds()))
}

func sqlQuery(ref string, window time.Duration, sql string) AlertQuery {
	return AlertQuery{
		RefID:             ref,
		RelativeTimeRange: RelativeTimeRange{From: int64(window.Seconds())},
		DatasourceUID:     DataSourceUID,
		Model: map[string]any{
			"refId":      ref,
			"datasource": map[string]any{"type": DataSourceType, "uid": DataSourceUID},
			"editorType": "sql",
			"format":     FormatTable,
			"rawSql":     sql,
		},
	}
}

// threshold is a server-side expression firing for each series of ref
// above limit. Unlike a math expression it needs no "$", which Grafana's
// provisioning files would take for an environment variable.
func threshold(ref, input string, limit float64) AlertQuery {
	return AlertQuery{
		RefID:         ref,
		DatasourceUID: "__expr__",
		Model: map[string]any{
			"refId":      ref,
			"datasource": map[string]any{"type": "__expr__", "uid": "__expr__"},
			"type":       "threshold",
			"expression": input,
			"conditions": []any{map[string]any{"evaluator": map[string]any{"type": "gt", "params": []any{limit}}}},
		},
	}
}

func quote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// ruleUID is a stable uid of at most 40 characters (Grafana's limit).
func ruleUID(parts ...string) string {
	uid := strings.Join(parts, "-")
	uid = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(uid))
	if len(uid) > 40 {
		uid = uid[:40]
	}
	return uid
}

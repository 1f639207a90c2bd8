package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// Point is one value of a chart's series.
type Point struct {
	T time.Time
	V float64
}

// chart is a line chart over time with labelled axes and an optional budget
// line: what a reader needs to tell at a glance whether a series keeps its
// budget and since when.
type chart struct {
	Label  string  // accessible name: what the series is
	Unit   string  // "ms", "%" …
	Budget float64 // drawn as a dashed line when > 0
	Max    float64 // fixed top of the y axis; 0 picks one from the data
	Days   bool    // label the x axis with dates whatever the span (weekly points)
	Points []Point
}

// Chart geometry, in SVG user units; the SVG scales to its container.
const (
	chartW, chartH       = 480, 180
	padL, padR           = 60, 14
	padT, padB           = 12, 30
	plotW, plotH         = chartW - padL - padR, chartH - padT - padB
	yTicks               = 4
	maxXTicks            = 4
	pointLabelDateLayout = "2006-01-02 15:04 UTC"
)

// svg renders the chart.
func (c chart) svg() template.HTML {
	var b strings.Builder
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" preserveAspectRatio="xMidYMid meet" role="img" aria-label="%s">`,
		chartW, chartH, esc(c.Label))
	if len(c.Points) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="empty">no data yet</text></svg>`, padL+10, chartH/2)
		return template.HTML(b.String())
	}
	top := c.Max
	if top == 0 {
		for _, p := range c.Points {
			top = math.Max(top, p.V)
		}
		top = niceCeil(math.Max(top, c.Budget) * 1.1)
	}
	t0, t1 := c.Points[0].T, c.Points[len(c.Points)-1].T
	x := func(t time.Time) float64 {
		if !t1.After(t0) {
			return padL + plotW/2
		}
		return padL + plotW*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(v float64) float64 { return padT + plotH*(1-v/top) }
	for i := 0; i <= yTicks; i++ {
		v := top * float64(i) / yTicks
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/><text x="%d" y="%.1f" class="axis y">%s</text>`,
			padL, y(v), chartW-padR, y(v), padL-6, y(v)+4, esc(axisNum(v, c.Unit)))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axisline"/>`, padL, padT+plotH, chartW-padR, padT+plotH)
	for _, t := range timeTicks(c.Points) {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="axisline"/><text x="%.1f" y="%d" class="axis x">%s</text>`,
			x(t), padT+plotH, x(t), padT+plotH+4, x(t), chartH-8, esc(tickLabel(t, t0, t1, c.Days)))
	}
	if c.Budget > 0 && c.Budget <= top {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="budget"/><text x="%d" y="%.1f" class="budgetlabel">budget %s</text>`,
			padL, y(c.Budget), chartW-padR, y(c.Budget), chartW-padR-4, y(c.Budget)-4, esc(axisNum(c.Budget, c.Unit)))
	}
	var pts []string
	for _, p := range c.Points {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.T), y(p.V)))
	}
	if len(pts) > 1 {
		fmt.Fprintf(&b, `<polyline points="%s" class="series"/>`, strings.Join(pts, " "))
	}
	for _, p := range c.Points {
		cls := "pt"
		if c.Budget > 0 && p.V > c.Budget {
			cls = "pt over"
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" class="%s"><title>%s: %s</title></circle>`,
			x(p.T), y(p.V), cls, p.T.UTC().Format(pointLabelDateLayout), esc(axisNum(p.V, c.Unit)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// axisNum prints an axis value with its unit.
func axisNum(v float64, unit string) string {
	s := num(v)
	switch unit {
	case "%":
		return s + "%"
	case "":
		return s
	}
	return s + " " + unit
}

// timeTicks picks up to maxXTicks of the points' instants, first and last
// included and evenly spaced by index, so every label is a data point's
// date (a week's Monday, a window's start) and never an interpolation.
func timeTicks(pts []Point) []time.Time {
	if len(pts) <= maxXTicks {
		out := make([]time.Time, len(pts))
		for i, p := range pts {
			out[i] = p.T
		}
		return out
	}
	out := make([]time.Time, 0, maxXTicks)
	for i := range maxXTicks {
		out = append(out, pts[i*(len(pts)-1)/(maxXTicks-1)].T)
	}
	return out
}

// tickLabel prints an x tick in the data's resolution: times of day
// within two days, dates beyond. Labels are UTC, as the tooltips say.
func tickLabel(t, t0, t1 time.Time, days bool) string {
	t = t.UTC()
	if !days && t1.Sub(t0) <= 48*time.Hour {
		if t0.UTC().YearDay() != t1.UTC().YearDay() {
			return t.Format("Jan 2 15:04")
		}
		return t.Format("15:04")
	}
	return t.Format("Jan 2")
}

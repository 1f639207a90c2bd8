package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

// testOut is where the page tests write screenshots: $TRILENS_TEST_OUT,
// else the test's temporary directory.
func testOut(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TRILENS_TEST_OUT")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts Debian's Chromium (scripts/deps.d installs it) headless,
// in a profile of its own, without any network of its own.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: run `make deps`")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// overflowJS lists every table wider than its card, and a page wider than
// the window (a sideways scroll on a phone).
const overflowJS = `(() => {
  const bad = [];
  document.querySelectorAll("table").forEach((t, i) => {
    const card = t.closest("section.card");
    const tr = t.getBoundingClientRect(), cr = card.getBoundingClientRect();
    if (tr.right > cr.right + 0.5 || tr.left < cr.left - 0.5 || t.scrollWidth > t.clientWidth + 1 || card.scrollWidth > card.clientWidth + 1)
      bad.push((card.id || "card") + " table " + i + ": " + Math.round(tr.width) + "px (scroll " + t.scrollWidth + ") in a " + Math.round(cr.width) + "px card");
  });
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    bad.push("the page is " + document.documentElement.scrollWidth + "px wide in a " + window.innerWidth + "px window");
  return bad;
})()`

// contrastJS lists text whose contrast with its background is below WCAG
// AA: 4.5:1, or 3:1 for large text (24px, or 18.66px bold). SVG text is
// judged by its fill against the card.
const contrastJS = `(() => {
  const rgb = s => { const m = s.match(/[\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length < 4 || c[3] > 0.9) return c; } return [255, 255, 255]; };
  const bad = [];
  document.querySelectorAll("body *").forEach(el => {
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) return;
    const st = getComputedStyle(el);
    if (st.display === "none" || st.visibility === "hidden") return;
    const fg = rgb(el instanceof SVGElement ? st.fill : st.color);
    const a = lum(fg), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) bad.push(el.tagName + " '" + el.textContent.trim().slice(0, 30) + "': " + ratio.toFixed(2) + ":1");
  });
  return bad;
})()`

// pageView is one view and what its DOM must hold with the demo data.
type pageView struct {
	name, path string
	// counts: CSS selector -> the least number of elements it must match.
	counts map[string]int
}

var demoViews = []pageView{
	{"scorecard", "/?tenant=demo", map[string]int{
		"#money-total": 1, "#lens-performance tr.kpi": 1, "#lens-security tr.kpi": 1, "#lens-scalability tr.kpi": 1,
		"#journeys tr.journey": 2, "svg.chart": 3, "#top tr.item": 5,
	}},
	{"service", "/service/checkout-api?tenant=demo", map[string]int{
		"section.journey": 1, "section.journey svg.chart circle": 1, "section.journey line.budget": 1,
		"tr.hop": 1, `tr.detection[data-type="n_plus_one"]`: 1, `tr.detection[data-type="serial_calls"]`: 1,
	}},
	{"findings", "/findings?tenant=demo", map[string]int{"tr.item": 10, "form.filters select": 4}},
	{"ledger", "/ledger?tenant=demo", map[string]int{"tr.waiver": 1}},
}

// checkPage renders each view of the running demo in headless Chromium at
// a laptop's and a phone's size, checks from the DOM that it holds the
// demo's data and that no table overflows its card, checks the money
// headline against `trilens scorecard --format json`, and writes
// screenshots.
func checkPage(t *testing.T, base string) {
	ctx := browser(t)
	out := testOut(t)
	for _, size := range [][2]int64{{1366, 768}, {390, 844}} {
		for _, v := range demoViews {
			t.Run(fmt.Sprintf("%s-%dx%d", v.name, size[0], size[1]), func(t *testing.T) {
				tctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				if err := chromedp.Do(tctx, chromedp.EmulateViewport(size[0], size[1]), chromedp.Navigate(base+v.path)); err != nil {
					t.Fatal(err)
				}
				bad, err := chromedp.Run(tctx, chromedp.Evaluate[[]string](overflowJS))
				if err != nil {
					t.Fatal(err)
				}
				low, err := chromedp.Run(tctx, chromedp.Evaluate[[]string](contrastJS))
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range low {
					t.Errorf("contrast below WCAG AA: %s", l)
				}
				counts := map[string]int{}
				for sel := range v.counts {
					if counts[sel], err = chromedp.Run(tctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel))); err != nil {
						t.Fatal(err)
					}
				}
				// What a person sees first, and the whole page.
				first, err := chromedp.Run(tctx, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatal(err)
				}
				png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				for _, b := range bad {
					t.Error(b)
				}
				for sel, least := range v.counts {
					if counts[sel] < least {
						t.Errorf("%s: %d elements match %s, want at least %d", v.path, counts[sel], sel, least)
					}
				}
				shot := filepath.Join(out, fmt.Sprintf("%s-%dx%d.png", v.name, size[0], size[1]))
				if err := os.WriteFile(shot, first, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(strings.TrimSuffix(shot, ".png")+"-full.png", png, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("screenshot %s (%d bytes)", shot, len(png))
			})
		}
	}
	t.Run("performance-card", func(t *testing.T) { checkPerformanceCard(t, ctx, base) })
	t.Run("money-matches-cli", func(t *testing.T) { checkMoney(t, ctx, base) })
}

// checkPerformanceCard is what `make demo` promises on the first screen:
// journeys with their p95 against the budget, and an N+1 detection.
func checkPerformanceCard(t *testing.T, ctx context.Context, base string) {
	type row struct{ Journey, Status, P95, Budget, NPlusOne string }
	js := `[...document.querySelectorAll("#journeys tr.journey")].map(r => ({Journey: r.dataset.journey, Status: r.dataset.status,
		P95: r.cells[2].textContent, Budget: r.cells[3].textContent, NPlusOne: r.cells[5].dataset.nPlusOne}))`
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?tenant=demo")); err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]row](js))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	nPlusOne := 0
	for i, r := range rows {
		byName[r.Journey] = i
		if !strings.HasSuffix(r.P95, " ms") || !strings.HasSuffix(r.Budget, " ms") {
			t.Errorf("journey %s: p95 %q, budget %q: want both in ms", r.Journey, r.P95, r.Budget)
		}
		n, _ := strconv.Atoi(r.NPlusOne)
		nPlusOne += n
	}
	i, ok := byName["checkout"]
	if !ok || rows[i].Status != "fail" || rows[i].Budget != "300 ms" {
		t.Errorf("the checkout journey should be over its 300 ms budget: %+v", rows)
	}
	if j, ok := byName["browse"]; !ok || rows[j].Status != "pass" {
		t.Errorf("the browse journey should keep its budget: %+v", rows)
	}
	if nPlusOne == 0 {
		t.Errorf("no N+1 detection on the performance card: %+v", rows)
	}
}

// checkMoney compares the page's money headline with what `trilens
// scorecard --format json` prints for the same tenant. Money grows with
// the age of each gap, so the CLI's sum must lie between two page loads
// around it, and each page must print its own sum as the CLI would.
func checkMoney(t *testing.T, ctx context.Context, base string) {
	type headline struct {
		Total, Text string
		Lenses      map[string]string
	}
	read := func() (h headline, total float64) {
		js := `({Total: document.querySelector("#money-total").dataset.money, Text: document.querySelector("#money-total").textContent,
			Lenses: Object.fromEntries([...document.querySelectorAll(".lensmoney li")].map(li => [li.id.replace("money-", ""), li.dataset.money]))})`
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?tenant=demo")); err != nil {
			t.Fatal(err)
		}
		h, err := chromedp.Run(ctx, chromedp.Evaluate[headline](js))
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseFloat(h.Total, 64)
		if err != nil {
			t.Fatalf("data-money %q: %v", h.Total, err)
		}
		return h, v
	}
	before, lo := read()
	cmd := newScorecardCommand()
	var buf strings.Builder
	cmd.SetOut(&buf)
	cmd.SetArgs([]string{"--format", "json", "--scorer-url", base, "--tenant", "demo"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	after, hi := read()
	var card scorecard.Scorecard
	if err := json.Unmarshal([]byte(buf.String()), &card); err != nil {
		t.Fatal(err)
	}
	if card.Money <= 0 || card.Money < lo || card.Money > hi {
		t.Errorf("CLI money %.2f, page %.2f before and %.2f after", card.Money, lo, hi)
	}
	if before.Text != money(lo, card.Currency) || after.Text != money(hi, card.Currency) {
		t.Errorf("headline %q / %q does not print %.2f / %.2f as the CLI does", before.Text, after.Text, lo, hi)
	}
	for _, l := range card.Lenses {
		a, _ := strconv.ParseFloat(before.Lenses[l.Lens], 64)
		b, _ := strconv.ParseFloat(after.Lenses[l.Lens], 64)
		if l.Money < a || l.Money > b {
			t.Errorf("lens %s: CLI %.2f, page %.2f before and %.2f after", l.Lens, l.Money, a, b)
		}
	}
	t.Logf("money at risk: page %.2f, CLI %.2f, page %.2f %s", lo, card.Money, hi, card.Currency)
}

// TestPageChecksCatchFaults runs the DOM checks on pages made to fail
// them, so a passing demo run means something.
func TestPageChecksCatchFaults(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><html><body style="margin:0;background:#fff">
<section class="card" id="narrow" style="width:200px;background:#fff"><table><tr><td style="white-space:nowrap">a cell far too wide for a card of two hundred pixels</td></tr></table></section>
<p style="color:#aaa">pale text</p><p style="color:#1d2430">dark text</p>
<div style="background:#1d2430"><span style="color:#2a3240">dark on dark</span></div></body></html>`)
	}))
	defer srv.Close()
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	over, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](overflowJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(over) != 1 || !strings.HasPrefix(over[0], "narrow table 0") {
		t.Errorf("overflow check: %q, want the narrow card's table", over)
	}
	low, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](contrastJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(low) != 2 || !strings.Contains(low[0], "pale text") || !strings.Contains(low[1], "dark on dark") {
		t.Errorf("contrast check: %q, want the pale text and the dark on dark", low)
	}
}

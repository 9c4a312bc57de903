package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/shadowctl/shadowctl/replay"
)

// TestHTMLValuesMatchJSON: every headline number and gate value on the page
// is the JSON report's, and shows as the table format formats it.
func TestHTMLValuesMatchJSON(t *testing.T) {
	r := goldenReport(t)
	doc, _ := page(t, r)
	j := jsonDoc(t, r)

	facts := find(byID(t, doc, "headline"), func(n *html.Node) bool { _, ok := attr(n, "data-key"); return ok })
	want := []string{"agreement.rate", "agreement.baseline.rate", "latency_ms.ratio.p99", "latency_ms.candidate.p99",
		"errors.candidate.rate", "errors.baseline.rate", "errors.recorded.rate", "exchanges"}
	if len(facts) != len(want) {
		t.Fatalf("%d headline numbers, want %d", len(facts), len(want))
	}
	for i, n := range facts {
		key, _ := attr(n, "data-key")
		raw, _ := attr(n, "data-value")
		if key != want[i] {
			t.Errorf("headline %d is %s, want %s", i, key, want[i])
		}
		jv := jsonAt(t, j, key)
		if !sameNumber(raw, jv) {
			t.Errorf("%s: page has %s, JSON %v", key, raw, jv)
		}
		// What is shown: a rate as a percentage, a ratio with ×, ms, a count.
		v := jv.(float64)
		var shown string
		switch {
		case strings.HasSuffix(key, "rate"):
			shown = strconv.FormatFloat(v*100, 'f', 2, 64) + "%"
		case strings.Contains(key, "ratio"):
			shown = strconv.FormatFloat(v, 'f', 3, 64) + "×"
		case strings.HasPrefix(key, "latency_ms."):
			shown = strconv.FormatFloat(v, 'f', 3, 64) + " ms"
		default:
			shown = strconv.FormatFloat(v, 'f', -1, 64)
		}
		if got := text(n); got != shown {
			t.Errorf("%s shows %q, want %q", key, got, shown)
		}
	}
	// By hand, for the two that a reader decides on first.
	if got := text(facts[0]); got != "69.23%" { // 9 of 13 instances
		t.Errorf("agreement shows %q", got)
	}

	rows := find(find(byID(t, doc, "verdict"), tag("tbody"))[0], tag("tr"))
	if len(rows) != len(r.Gates) {
		t.Fatalf("%d gate rows, want %d", len(rows), len(r.Gates))
	}
	for i, tr := range rows {
		cells := find(tr, tag("td"))
		g := jsonAt(t, j, "gates."+strconv.Itoa(i)).(map[string]any)
		raw, _ := attr(cells[3], "data-value")
		if !sameNumber(raw, g["value"]) || text(cells[1]) != g["expr"] || text(cells[2]) != fmt.Sprint(g["group"]) && g["group"] != nil {
			t.Errorf("gate %d: page %q %q %s, JSON %v", i, text(cells[1]), text(cells[2]), raw, g)
		}
		if res := text(cells[0]); (res == "pass") != g["passed"].(bool) {
			t.Errorf("gate %d shows %s, JSON passed=%v", i, res, g["passed"])
		}
	}
	if h := text(find(byID(t, doc, "verdict"), tag("h2"))[0]); h != "Verdict: FAILED: 4 of 9 gates failed" {
		t.Errorf("verdict %q", h)
	}
}

// TestHTMLPlotsCarryData reads the SVG back: the percentile plot's points
// and the heatmap's cells are the report's numbers, placed where the axes
// say.
func TestHTMLPlotsCarryData(t *testing.T) {
	r := goldenReport(t)
	doc, _ := page(t, r)
	j := jsonDoc(t, r)
	curve := j["latency_curve_ms"].(map[string]any)
	qs := curve["quantiles"].([]any)

	fig := byID(t, doc, "latency-percentiles")
	// The x ticks: p0 .. p99.99, evenly spaced (log10 of 1/(1-q)).
	ticks := map[string]float64{}
	for _, n := range find(find(fig, func(n *html.Node) bool { return hasClass(n, "axis") })[0], tag("text")) {
		if a, ok := attr(n, "text-anchor"); ok && a == "middle" && !hasClass(n, "label") {
			ticks[text(n)] = fattr(t, n, "x")
		}
	}
	x0, x4 := ticks["p0"], ticks["p99.99"]
	if x0 == 0 || x4 <= x0 || math.Abs(ticks["p99"]-(x0+(x4-x0)/2)) > 0.11 || math.Abs(ticks["p90"]-(x0+(x4-x0)/4)) > 0.11 {
		t.Fatalf("x ticks %v: p90 and p99 should sit a quarter and a half of the way", ticks)
	}
	// The y ticks, to map a value to its pixel.
	yTick := map[float64]float64{}
	for _, n := range find(fig, tag("text")) {
		if a, _ := attr(n, "text-anchor"); a == "end" {
			v, err := strconv.ParseFloat(text(n), 64)
			if err == nil {
				yTick[v] = fattr(t, n, "y") - 4
			}
		}
	}
	if len(yTick) < 2 {
		t.Fatalf("y ticks %v", yTick)
	}
	yAt := func(v float64) float64 { // linear through the 0 tick and the top tick
		top := 0.0
		for k := range yTick {
			top = math.Max(top, k)
		}
		return yTick[0] + v/top*(yTick[top]-yTick[0])
	}
	seen := 0
	for _, g := range find(fig, func(n *html.Node) bool { return hasClass(n, "series") }) {
		side, _ := attr(g, "data-series")
		vals := curve[side].([]any)
		marks := find(g, tag("circle"))
		if len(marks) != len(qs) {
			t.Fatalf("%s: %d points, want %d", side, len(marks), len(qs))
		}
		for i, m := range marks {
			dx, dy := fattr(t, m, "data-x"), fattr(t, m, "data-y")
			if dx != qs[i].(float64) || dy != vals[i].(float64) {
				t.Fatalf("%s point %d: (%v, %v), JSON (%v, %v)", side, i, dx, dy, qs[i], vals[i])
			}
			wantX := x0 + (x4-x0)*math.Log10(1/(1-dx))/4
			if cx, cy := fattr(t, m, "cx"), fattr(t, m, "cy"); math.Abs(cx-wantX) > 0.11 || math.Abs(cy-yAt(dy)) > 0.11 {
				t.Errorf("%s point %d at (%v, %v), want (%.1f, %.1f)", side, i, cx, cy, wantX, yAt(dy))
			}
			// Where the curve meets a summary percentile, the two agree.
			if dx == 0.99 {
				if want := jsonAt(t, j, "latency_ms."+side+".p99").(float64); dy != want {
					t.Errorf("%s p99 point %v, summary %v", side, dy, want)
				}
			}
		}
		seen++
	}
	if seen != 3 {
		t.Errorf("%d sides plotted, want recorded, candidate and baseline", seen)
	}
	// The candidate's p99 by hand: its latencies 5 12 15 24 33 66 77 ms.
	cand := find(fig, func(n *html.Node) bool { v, _ := attr(n, "data-series"); return v == "candidate" })[0]
	if last := find(cand, tag("circle"))[len(qs)-1]; fattr(t, last, "data-y") != 77 {
		t.Errorf("candidate p99.99 = %v, want 77", fattr(t, last, "data-y"))
	}

	// Over time: each side's error rate per interval is the timeline's.
	tl := j["timeline"].([]any)
	for _, g := range find(byID(t, doc, "errors-over-time"), func(n *html.Node) bool { return hasClass(n, "series") }) {
		name, _ := attr(g, "data-series")
		side := strings.TrimSuffix(name, " error rate")
		marks := find(g, tag("circle"))
		if len(marks) != len(tl) {
			t.Fatalf("%s: %d points for %d intervals", name, len(marks), len(tl))
		}
		for k, m := range marks {
			p := tl[k].(map[string]any)
			dx, _ := attr(m, "data-x")
			dy, _ := attr(m, "data-y")
			if dx != p["start"] || !sameNumber(dy, p[side].(map[string]any)["error_rate"]) {
				t.Errorf("%s point %d: (%s, %s), JSON %v", name, k, dx, dy, p)
			}
		}
	}
	// By hand: the fixture's 8 rows share one sent_at; the candidate failed 2.
	if c := tl[0].(map[string]any)["candidate"].(map[string]any); len(tl) != 1 || c["error_rate"] != 0.25 {
		t.Errorf("timeline %v", tl)
	}

	// The heatmap: one cell per (recorded, candidate) class with its count,
	// row by row as confusion[i][j]; by hand: 1→1 6, 1→0 0, 0→1 1, 0→0 3.
	cells := find(byID(t, doc, "confusion"), func(n *html.Node) bool { return hasClass(n, "cell") })
	labels := j["agreement"].(map[string]any)["labels"].(map[string]any)
	classes, confusion := labels["classes"].([]any), labels["confusion"].([]any)
	if len(cells) != len(classes)*len(classes) {
		t.Fatalf("%d cells for %d classes", len(cells), len(classes))
	}
	byHand := map[[2]string]string{{"1", "1"}: "6", {"1", "0"}: "0", {"0", "1"}: "1", {"0", "0"}: "3"}
	for k, c := range cells {
		i, jj := k/len(classes), k%len(classes)
		row, _ := attr(c, "data-row")
		col, _ := attr(c, "data-col")
		count, _ := attr(c, "data-count")
		want := confusion[i].([]any)[jj].(float64)
		if row != classes[i] || col != classes[jj] || count != strconv.FormatFloat(want, 'f', -1, 64) || byHand[[2]string{row, col}] != count {
			t.Errorf("cell %d: %s→%s %s, JSON %v→%v %v", k, row, col, count, classes[i], classes[jj], want)
		}
		// The cells tile the matrix in order: column j right of column j-1.
		if jj > 0 && fattr(t, c, "x") <= fattr(t, cells[k-1], "x") || i > 0 && fattr(t, c, "y") <= fattr(t, cells[k-len(classes)], "y") {
			t.Errorf("cell %d out of place", k)
		}
		// The count is written in the cell.
		if txt := c.NextSibling; txt == nil || txt.Data != "text" || text(txt) != count {
			t.Errorf("cell %d shows no count %s", k, count)
		}
	}

	// Groups: largest first, as the JSON; each bar the group's rate with
	// its interval.
	bars := find(byID(t, doc, "groups"), tag("rect"))
	bars = bars[:len(bars)-1] // the legend's swatch
	groups := j["groups"].([]any)
	if len(bars) != len(groups) {
		t.Fatalf("%d group bars, %d groups", len(bars), len(groups))
	}
	for i, b := range bars {
		g := groups[i].(map[string]any)
		a := g["agreement"].(map[string]any)
		key, _ := attr(b, "data-key")
		raw, _ := attr(b, "data-value")
		w := b.Parent.FirstChild.NextSibling // the whisker
		lo, _ := attr(w, "data-lo")
		hi, _ := attr(w, "data-hi")
		if key != g["key"] || !sameNumber(raw, a["rate"]) || !sameNumber(lo, a["ci95_low"]) || !sameNumber(hi, a["ci95_high"]) {
			t.Errorf("group bar %d: %s %s [%s, %s]; JSON %v", i, key, raw, lo, hi, g)
		}
	}
	if fattr(t, bars[0], "width") <= fattr(t, bars[1], "width") { // 77.8% > 50%
		t.Errorf("bar widths %v, %v", fattr(t, bars[0], "width"), fattr(t, bars[1], "width"))
	}
}

// TestHTMLHostileBody: a recorded body built to break out of the page is
// shown as text: no element, attribute or script comes from it, and the
// page stays valid UTF-8.
func TestHTMLHostileBody(t *testing.T) {
	evil := `</style></code></td></table><script>alert(1)</script><img src=x onerror="alert('x')">`
	badUTF8 := "caf\xe9 \xff\xfe"
	rows := []replay.Result{
		row(`<script>id</script>`, `/p"><script>alert(2)</script>`, side{status: 200, body: `{"predictions":["` + strings.ReplaceAll(evil, `"`, `\"`) + `"]}`, lat: 1},
			side{status: 200, body: `{"predictions":["` + badUTF8 + `"]}`, lat: 1}, nil),
		row("r2", "/p", side{status: 200, body: "plain " + evil, lat: 1}, side{status: 200, body: badUTF8, lat: 1}, nil),
		// Labels are model output too: they name the heatmap's rows and
		// columns.
		row("r3", "/p", side{status: 200, body: `{"predictions":["<b>x</b>\"'"]}`, lat: 1},
			side{status: 200, body: `{"predictions":["</text></svg><script>alert(5)</script>"]}`, lat: 1}, nil),
	}
	r := buildRows(t, Options{By: "path"}, rows)
	doc, out := page(t, r)
	if !utf8.Valid(out) {
		t.Error("the page is not valid UTF-8")
	}
	// The page has no script, no img, no event handler: only what the
	// template writes.
	if n := find(doc, func(n *html.Node) bool { return n.Data == "script" || n.Data == "img" }); len(n) > 0 {
		t.Errorf("%d script/img elements from a body", len(n))
	}
	if n := find(doc, func(n *html.Node) bool {
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				return true
			}
		}
		return false
	}); len(n) > 0 {
		t.Errorf("an event handler attribute from a body: <%s %v>", n[0].Data, n[0].Attr)
	}
	if n := find(doc, tag("style")); len(n) != 1 || !strings.Contains(text(n[0]), ".verdict") || strings.Contains(text(n[0]), "alert") {
		t.Errorf("the style element was broken into")
	}
	// The diffs show what the report holds, as text: the non-JSON body's
	// markup verbatim, the bad bytes as U+FFFD.
	var recs, cands, wantRecs, wantCands []string
	for _, n := range find(byID(t, doc, "disagreements"), func(n *html.Node) bool { return hasClass(n, "rec") }) {
		recs = append(recs, text(n))
	}
	for _, n := range find(byID(t, doc, "disagreements"), func(n *html.Node) bool { return hasClass(n, "cand") }) {
		cands = append(cands, text(n))
	}
	for _, d := range r.Disagreements {
		for _, x := range d.Diff {
			wantRecs = append(wantRecs, strings.ToValidUTF8(x.Recorded, "\uFFFD"))
			wantCands = append(wantCands, strings.ToValidUTF8(x.Candidate, "\uFFFD"))
		}
	}
	if strings.Join(recs, "\n") != strings.Join(wantRecs, "\n") || strings.Join(cands, "\n") != strings.Join(wantCands, "\n") {
		t.Errorf("diffs shown %q → %q, report has %q → %q", recs, cands, wantRecs, wantCands)
	}
	if !strings.Contains(strings.Join(recs, "\n"), "plain </style></code></td></table><scri") {
		t.Errorf("recorded diffs %q do not show the markup as text", recs)
	}
	if !strings.Contains(strings.Join(cands, "\n"), "caf\uFFFD \uFFFD") {
		t.Errorf("candidate diffs %q do not show the bad bytes as U+FFFD", cands)
	}
	ids := find(byID(t, doc, "disagreements"), tag("code"))
	if len(ids) == 0 || !strings.Contains(text(byID(t, doc, "disagreements")), `<script>id</script>`) {
		t.Errorf("the hostile id is not shown as text")
	}
	// The group key (the path) is a bar label: text too.
	cells := find(byID(t, doc, "confusion"), func(n *html.Node) bool { return hasClass(n, "cell") })
	labels := map[string]bool{}
	for _, c := range cells {
		v, _ := attr(c, "data-row")
		labels[v] = true
	}
	if !labels[`<b>x</b>"'`] || !labels[`</text></svg><script>alert(5)</script>`] {
		t.Errorf("heatmap rows %v: the labels are not kept as text", labels)
	}
	if !strings.Contains(text(byID(t, doc, "confusion")), `<b>x</b>"'`) {
		t.Errorf("the heatmap does not show the label as text")
	}
	bars := find(byID(t, doc, "groups"), func(n *html.Node) bool { v, _ := attr(n, "data-key"); return v == `/p"><script>alert(2)</script>` })
	if len(bars) != 1 || !strings.Contains(text(byID(t, doc, "groups")), `/p"><script>alert(2)</script> (1)`) {
		t.Errorf("the hostile path is not shown as text in the groups chart")
	}
}

// TestHTMLEmptySections: what a report has no data for is one line, not an
// empty chart.
func TestHTMLEmptySections(t *testing.T) {
	rows := []replay.Result{
		row("a", "/p", side{status: 200, body: `{"predictions":[0.5]}`, lat: 10}, side{status: 200, body: `{"predictions":[0.5]}`, lat: 12}, nil),
	}
	rows[0].SentAt = time.Time{}
	doc, _ := page(t, buildRows(t, Options{}, rows))
	for id, want := range map[string]string{
		"verdict":            "No gates were set",
		"latency":            "No paired latency difference",
		"timeline":           "No timeline",
		"confusion-matrix":   "No confusion matrix: the predictions are not labels (they are scores).",
		"by-group":           "No groups",
		"errors":             "No errors on any side.",
		"status-transitions": "No status changed",
		"disagreements":      "No disagreements: the candidate agreed on every compared request.",
	} {
		sec := byID(t, doc, id)
		if !strings.Contains(text(sec), want) {
			t.Errorf("%s: %q lacks %q", id, text(sec), want)
		}
	}
	if n := find(doc, tag("svg")); len(n) != 1 { // the percentile plot
		t.Errorf("%d charts, want only the percentile plot", len(n))
	}
}

// TestHTMLSizeBounded: the page of a large, varied report stays small: what
// it plots is bounded whatever the rows (41 quantiles, 120 intervals, top
// classes, groups).
func TestShortCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 99_999: "99999", 100_000: "100k", 165_499: "165k", 1_317_665: "1.32M", 2_500_000_000: "2.5G"} {
		if got := shortCount(n); got != want {
			t.Errorf("shortCount(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestHTMLSizeBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 60,000-row report")
	}
	b, err := NewBuilder(Options{By: "path", Top: 100})
	if err != nil {
		t.Fatal(err)
	}
	const n = 60_000
	for i := range n {
		rec := fmt.Sprintf(`{"predictions":["c%d","c%d"]}`, i%500, (i*7)%500)
		cand := rec
		if i%9 == 0 {
			cand = fmt.Sprintf(`{"predictions":["c%d","c%d"]}`, (i+1)%500, (i*7)%500)
		}
		r := replay.Result{ID: fmt.Sprintf("r%06d", i), Method: "POST", Path: fmt.Sprintf("/m/%d", i%300),
			SentAt:         t0.Add(time.Duration(i) * 50 * time.Millisecond),
			RecordedStatus: 200, RecordedBody: []byte(rec), RecordedLatencyNs: int64(1+i%997) * ms,
			CandidateStatus: 200, CandidateBody: []byte(cand), CandidateLatencyNs: int64(1+i%1009) * ms,
			BaselineStatus: ptr(int32(200)), BaselineBody: []byte(rec), BaselineLatencyNs: ptr(int64(1+i%991) * ms)}
		if i%101 == 0 {
			r.CandidateStatus, r.CandidateErrorKind, r.CandidateError = int32(500+i%4), replay.KindHTTP5xx, "5xx"
		}
		b.Add(&r)
	}
	r := b.Report()
	_, out := page(t, r)
	t.Logf("%d rows: page %d bytes, %d intervals, %d classes, %d groups", n, len(out), len(r.Timeline),
		len(r.Agreement.Labels.Classes), len(r.Groups))
	if len(out) > 2<<20 {
		t.Errorf("page %d bytes, want under 2 MiB", len(out))
	}
	if len(r.Timeline) > maxIntervals {
		t.Errorf("%d intervals", len(r.Timeline))
	}
}

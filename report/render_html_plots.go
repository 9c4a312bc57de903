// The HTML report's plots of latency (by percentile, over time) and the
// confusion matrix heatmap, laid out as charts (render_html_chart.go).

package report

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// curveX is the percentile plot's x: log10(1/(1−q)), 0 at p0 and 4 at
// p99.99.
func curveX(q float64) float64 { return -math.Log10(1 - q) }

var curveTicks = []struct {
	q    float64
	name string
}{{0, "p0"}, {0.5, "p50"}, {0.9, "p90"}, {0.99, "p99"}, {0.999, "p99.9"}, {0.9999, "p99.99"}}

// percentileChart plots each side's latency curve.
func percentileChart(c *LatencyCurve) *chart {
	ch := &chart{ID: "latency-percentiles", Title: "Latency by percentile", W: 680, H: 330, L: 64, T: 34, R: 664, B: 286,
		XLabel: "percentile (log scale of 1/(1−q))", YLabel: "latency (ms)",
		Caption: "Each side's latency at every percentile, the tail to the right: where a line rises, that side's tail starts; lines apart at the left mean a slower typical request."}
	sides := [3][]float64{c.Recorded, c.Candidate, c.Baseline}
	hi := 0.0
	for _, s := range sides {
		for _, v := range s {
			hi = math.Max(hi, v)
		}
	}
	_, top, yt := niceTicks(0, hi, 5, 0)
	curveAxes(ch, 0, top, yt)
	y := linear{0, top, ch.B, ch.T}
	var legend []legendItem
	for i, s := range sides {
		if s == nil {
			continue
		}
		ch.Series = append(ch.Series, curveSeries(sideNames[i], sideNames[i], c.Quantiles, s, ch, y))
		legend = append(legend, legendItem{Class: sideNames[i], Text: sideNames[i], Line: true})
	}
	ch.Legend = legendRow(ch.L, 16, legend)
	return ch
}

// deltaChart plots the paired candidate − baseline difference by
// percentile.
func deltaChart(c *LatencyCurve) *chart {
	ch := &chart{ID: "latency-delta", Title: "Paired latency difference by percentile", W: 680, H: 330, L: 64, T: 34, R: 664, B: 286,
		XLabel: "percentile (log scale of 1/(1−q))", YLabel: "candidate − baseline (ms)",
		Caption: "The same request's candidate latency minus its baseline latency, by percentile: below the zero line the candidate was faster."}
	lo, hi := 0.0, 0.0
	for _, v := range c.Delta {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	bot, top, yt := niceTicks(lo, hi, 5, 0)
	curveAxes(ch, bot, top, yt)
	y := linear{bot, top, ch.B, ch.T}
	ch.Zero, ch.HasZero = y.at(0), true
	ch.Series = append(ch.Series, curveSeries("delta", "delta", c.Quantiles, c.Delta, ch, y))
	ch.Legend = legendRow(ch.L, 16, []legendItem{{Class: "delta", Text: "candidate − baseline, paired per request", Line: true}})
	return ch
}

func curveAxes(ch *chart, bot, top float64, yt []float64) {
	x := linear{0, 4, ch.L, ch.R}
	for _, t := range curveTicks {
		ch.XTicks = append(ch.XTicks, tick{At: x.at(curveX(t.q)), Label: t.name})
	}
	y := linear{bot, top, ch.B, ch.T}
	for _, v := range yt {
		ch.YTicks = append(ch.YTicks, tick{At: y.at(v), Label: tickLabel(v)})
	}
}

func curveSeries(name, class string, qs, vs []float64, ch *chart, y linear) series {
	x := linear{0, 4, ch.L, ch.R}
	s := series{Name: name, Class: class}
	var pts []string
	for i, q := range qs {
		px, py := x.at(curveX(q)), y.at(vs[i])
		pts = append(pts, coord(px)+","+coord(py))
		s.Marks = append(s.Marks, mark{X: px, Y: py, DX: dataValue(q), DY: dataValue(vs[i]),
			Tip: name + ": p" + tickLabel(q*100) + " = " + tickLabel(vs[i]) + " ms"})
	}
	s.Points = strings.Join(pts, " ")
	return s
}

// timeCharts plots p50 and p99 latency, and the error rate, per interval
// of sent_at and side.
func timeCharts(tl []TimePoint) (lat, errs *chart) {
	start, end := tl[0].Start, tl[len(tl)-1].End
	span := end.Sub(start).Seconds()
	_, right, xt := niceTicks(0, span, 6, 0)
	axisLabel := "seconds since " + start.Format("2006-01-02 15:04:05.000 UTC") + " (sent_at)"
	mk := func(id, title, ylabel, caption string) *chart {
		ch := &chart{ID: id, Title: title, W: 680, H: 330, L: 64, T: 34, R: 664, B: 286, XLabel: axisLabel, YLabel: ylabel, Caption: caption}
		x := linear{0, right, ch.L, ch.R}
		for _, v := range xt {
			ch.XTicks = append(ch.XTicks, tick{At: x.at(v), Label: tickLabel(v)})
		}
		return ch
	}
	lat = mk("latency-over-time", "Latency over time", "latency (ms)",
		"p99 (solid) and p50 (dashed) latency of the requests sent in each interval, per side: a step shows when a side slowed down.")
	errs = mk("errors-over-time", "Error rate over time", "failed requests (%)",
		"Share of the requests sent in each interval that failed, per side: a spike is a burst of failures, a plateau a steady failure rate.")
	side := func(p TimePoint, i int) *TimeSide {
		return [3]*TimeSide{p.Recorded, p.Candidate, p.Baseline}[i]
	}
	hiLat, hiErr := 0.0, 0.0
	for _, p := range tl {
		for i := range 3 {
			if s := side(p, i); s != nil {
				hiLat = math.Max(hiLat, math.Max(f64(s.P99), f64(s.P50)))
				hiErr = math.Max(hiErr, f64(s.ErrorRate)*100)
			}
		}
	}
	_, topLat, ylt := niceTicks(0, hiLat, 5, 0)
	_, topErr, yet := niceTicks(0, hiErr, 5, 0)
	for _, v := range ylt {
		lat.YTicks = append(lat.YTicks, tick{At: linear{0, topLat, lat.B, lat.T}.at(v), Label: tickLabel(v)})
	}
	for _, v := range yet {
		errs.YTicks = append(errs.YTicks, tick{At: linear{0, topErr, errs.B, errs.T}.at(v), Label: tickLabel(v)})
	}
	x := linear{0, right, lat.L, lat.R}
	yl, ye := linear{0, topLat, lat.B, lat.T}, linear{0, topErr, errs.B, errs.T}
	var latLegend, errLegend []legendItem
	for i, name := range sideNames {
		var p50, p99, er series
		p50 = series{Name: name + " p50", Class: name + " p50"}
		p99 = series{Name: name + " p99", Class: name}
		er = series{Name: name + " error rate", Class: name}
		var pts50, pts99, ptsE []string
		for _, p := range tl {
			s := side(p, i)
			if s == nil {
				continue
			}
			mid := (p.Start.Sub(start) + p.End.Sub(p.Start)/2).Seconds()
			px := x.at(mid)
			when := p.Start.Format("15:04:05.000")
			if s.P50 != nil && s.P99 != nil {
				y50, y99 := yl.at(*s.P50), yl.at(*s.P99)
				pts50 = append(pts50, coord(px)+","+coord(y50))
				pts99 = append(pts99, coord(px)+","+coord(y99))
				p50.Marks = append(p50.Marks, mark{X: px, Y: y50, DX: p.Start.Format("2006-01-02T15:04:05.999999999Z07:00"), DY: dataValue(*s.P50),
					Tip: name + " p50 at " + when + ": " + tickLabel(*s.P50) + " ms"})
				p99.Marks = append(p99.Marks, mark{X: px, Y: y99, DX: p.Start.Format("2006-01-02T15:04:05.999999999Z07:00"), DY: dataValue(*s.P99),
					Tip: name + " p99 at " + when + ": " + tickLabel(*s.P99) + " ms"})
			}
			if s.ErrorRate != nil {
				py := ye.at(*s.ErrorRate * 100)
				ptsE = append(ptsE, coord(px)+","+coord(py))
				er.Marks = append(er.Marks, mark{X: px, Y: py, DX: p.Start.Format("2006-01-02T15:04:05.999999999Z07:00"), DY: dataValue(*s.ErrorRate),
					Tip: name + " at " + when + ": " + strconv.FormatInt(s.Errors, 10) + " of " + strconv.FormatInt(s.Requests, 10) + " failed"})
			}
		}
		if len(pts99) > 0 {
			p50.Points, p99.Points = strings.Join(pts50, " "), strings.Join(pts99, " ")
			lat.Series = append(lat.Series, p99, p50)
			latLegend = append(latLegend, legendItem{Class: name, Text: name, Line: true})
		}
		if len(ptsE) > 0 {
			er.Points = strings.Join(ptsE, " ")
			errs.Series = append(errs.Series, er)
			errLegend = append(errLegend, legendItem{Class: name, Text: name, Line: true})
		}
	}
	if len(latLegend) > 0 {
		latLegend = append(latLegend, legendItem{Class: "ink", Text: "p99", Line: true}, legendItem{Class: "ink p50", Text: "p50", Line: true})
	}
	lat.Legend = legendRow(lat.L, 16, latLegend)
	errs.Legend = legendRow(errs.L, 16, errLegend)
	return lat, errs
}

// maxHeatmapClasses bounds the classes drawn in the heatmap, so the page
// stays small under a large --top; the JSON has them all.
const maxHeatmapClasses = 30

// heatmap draws the confusion matrix: rows recorded, columns candidate,
// shaded by the share of the row, with the counts in the cells.
func heatmap(l *LabelMetrics) *chart {
	n := min(len(l.Classes), maxHeatmapClasses)
	size := math.Max(14, math.Min(48, 480/float64(n)))
	longest := 0
	for _, c := range l.Classes[:n] {
		longest = max(longest, utf8.RuneCountInString(clip(c, 16)))
	}
	// Column labels are written at a slant, so they need room above.
	left, top := 130.0, 24+5.5*float64(longest)
	ch := &chart{ID: "confusion", Title: "Confusion matrix", L: left, T: top, R: left + size*float64(n), B: top + size*float64(n),
		XLabel: "candidate's label", YLabel: "recorded label",
		Caption: "Rows are the recorded (production) label, columns the candidate's; each cell counts instances and is shaded by its share of the row, so off-diagonal colour is what the candidate confuses."}
	if n < len(l.Classes) {
		ch.Caption += " The first " + strconv.Itoa(n) + " of " + strconv.Itoa(len(l.Classes)) + " classes are drawn; the JSON report has them all."
	}
	ch.W, ch.H = ch.R+20, ch.B+44
	for i := range n {
		var rowSum int64
		for _, v := range l.Confusion[i][:len(l.Classes)] {
			rowSum += v
		}
		for j := range n {
			v := l.Confusion[i][j]
			share := 0.0
			if rowSum > 0 {
				share = float64(v) / float64(rowSum)
			}
			c := cell{X: left + size*float64(j), Y: top + size*float64(i), W: size, H: size,
				Fill: shade(share), Row: l.Classes[i], Col: l.Classes[j], Count: strconv.FormatInt(v, 10),
				Shown: shortCount(v), ShowCount: size >= 22}
			c.Light = share > 0.5
			c.TextX, c.TextY = c.X+size/2, c.Y+size/2+4
			c.Tip = "recorded " + clip(l.Classes[i], 40) + ", candidate " + clip(l.Classes[j], 40) + ": " + c.Count
			ch.Cells = append(ch.Cells, c)
		}
		ch.Texts = append(ch.Texts, svgText{X: left - 6, Y: top + size*float64(i) + size/2 + 4, Anchor: "end",
			Text: clip(l.Classes[i], 16), Full: l.Classes[i]})
		x, y := left+size*float64(i)+size/2, top-8
		ch.Texts = append(ch.Texts, svgText{X: x, Y: y, Anchor: "start", Class: "col", Text: clip(l.Classes[i], 16), Full: l.Classes[i],
			Rotate: "rotate(-40 " + coord(x) + " " + coord(y) + ")"})
	}
	return ch
}

// shortCount writes a count in at most 5 characters (1317665 as 1.32M),
// so it fits its cell; the exact count is in the cell's tooltip.
func shortCount(n int64) string {
	if n < 100_000 {
		return strconv.FormatInt(n, 10)
	}
	v, unit := float64(n)/1e3, "k"
	if n >= 1_000_000 {
		v, unit = float64(n)/1e6, "M"
	}
	if n >= 1_000_000_000 {
		v, unit = float64(n)/1e9, "G"
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + unit
}

// shade is white to dark blue with share in [0, 1].
func shade(share float64) string {
	mix := func(a, b float64) int { return int(math.Round(a + (b-a)*share)) }
	return "rgb(" + strconv.Itoa(mix(255, 8)) + "," + strconv.Itoa(mix(255, 48)) + "," + strconv.Itoa(mix(255, 107)) + ")"
}

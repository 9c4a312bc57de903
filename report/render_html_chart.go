// Charts of the HTML report: small SVG drawn by hand from Report values.
// A chart is a plain value (axes, series, bars, cells) that one template
// draws, so escaping stays html/template's job and the tests can read the
// data back from data-* attributes.

package report

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/shadowctl/shadowctl/internal/safetext"
)

// chart is one SVG figure.
type chart struct {
	ID      string
	Title   string
	Caption string
	W, H    float64
	// L, T, R, B bound the plot area, in pixels.
	L, T, R, B     float64
	XTicks, YTicks []tick
	XLabel, YLabel string
	// Zero is the pixel y of a reference line at 0 (the delta plot), drawn
	// when HasZero.
	Zero    float64
	HasZero bool
	Series  []series
	Bars    []bar
	Cells   []cell
	Texts   []svgText
	Legend  []legendItem
}

type tick struct {
	At    float64 // pixel position along the axis
	Label string
}

// series is a line through points; each mark carries its data values.
type series struct {
	Name, Class string
	Points      string
	Marks       []mark
}

type mark struct {
	X, Y   float64
	DX, DY string // the data, as the report has it
	Tip    string
}

// bar is a horizontal bar, with an optional interval whisker.
type bar struct {
	X, Y, W, H float64
	Class      string
	Key        string // the category
	Value      string // the data value
	Label      string // text at the bar's end
	LabelX     float64
	Tip        string
	Whisker    bool
	Lo, Hi     float64 // whisker ends, pixels
	DLo, DHi   string  // whisker ends, data
}

// cell is one heatmap cell.
type cell struct {
	X, Y, W, H   float64
	Fill         string
	Light        bool // white counts on a dark cell
	Row, Col     string
	Count        string
	Shown        string // Count as it fits in the cell
	ShowCount    bool
	TextX, TextY float64
	Tip          string
}

type svgText struct {
	X, Y   float64
	Anchor string
	Class  string
	Text   string
	Full   string // the untruncated text, as a tooltip
	Rotate string // a transform, for slanted labels
}

type legendItem struct {
	X, Y  float64
	Class string
	Text  string
	// Line draws a line swatch (a series), else a square (a bar).
	Line bool
}

// linear maps [d0, d1] onto [p0, p1].
type linear struct{ d0, d1, p0, p1 float64 }

func (s linear) at(v float64) float64 {
	if s.d1 == s.d0 {
		return (s.p0 + s.p1) / 2
	}
	return s.p0 + (v-s.d0)/(s.d1-s.d0)*(s.p1-s.p0)
}

// niceTicks covers [lo, hi] with about n ticks at 1, 2 or 5 times a power
// of ten (at least minStep apart: 1 for counts), and returns the covered
// range and the ticks.
func niceTicks(lo, hi float64, n int, minStep float64) (float64, float64, []float64) {
	if !(hi > lo) {
		if lo == 0 {
			hi = 1
		} else {
			lo, hi = math.Min(0, lo), math.Max(0, hi)
			if lo == hi {
				hi = lo + 1
			}
		}
	}
	raw := (hi - lo) / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step := p * 10
	for _, m := range []float64{1, 2, 5} {
		if m*p >= raw {
			step = m * p
			break
		}
	}
	step = math.Max(step, minStep)
	first, last := math.Floor(lo/step)*step, math.Ceil(hi/step)*step
	var out []float64
	for i := 0; ; i++ {
		v := first + float64(i)*step
		if v > last+step/2 || i > 100 {
			break
		}
		// Round away float noise (0.30000000000000004).
		out = append(out, math.Round(v/step)*step)
	}
	return first, last, out
}

// tickLabel formats a data value for a label: short, no float noise.
func tickLabel(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// dataValue formats a data value exactly, for data-* attributes.
func dataValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// clip shortens text (a class, a group key: untrusted) for an axis label,
// made visible first so that an escape counts as the runes it shows.
func clip(s string, n int) string { return safetext.Clip(s, n) }

// clipMiddle shortens text keeping both ends, where paths differ (the
// model's name, the verb after the colon).
func clipMiddle(s string, n int) string {
	s = visible(s)
	r := []rune(s)
	n = max(n, 5)
	if len(r) <= n {
		return s
	}
	head := (n - 1) / 2
	return string(r[:head]) + "…" + string(r[len(r)-(n-1-head):])
}

// sideClasses name the three sides as the CSS does.
var sideNames = [3]string{"recorded", "candidate", "baseline"}

// legendRow lays legend items out left to right from x at y.
func legendRow(x, y float64, items []legendItem) []legendItem {
	for i := range items {
		items[i].X, items[i].Y = x, y
		x += 28 + 7*float64(utf8.RuneCountInString(items[i].Text)) + 12
	}
	return items
}

// coord formats a pixel position.
func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// f64 is *p, or 0 for nil.
func f64(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// barChart lays out horizontal bars, one row per key, with room for the
// keys on the left.
type barRow struct {
	key   string
	note  string // shown after the (clipped) key: a count
	parts []barPart
}

type barPart struct {
	class  string
	value  float64 // in axis units
	data   string
	label  string
	tip    string
	lo, hi *float64 // interval, axis units
	dLo    string
	dHi    string
}

func barChart(id, title, xlabel, caption string, rows []barRow, xmax float64, percent bool, legend []legendItem) *chart {
	parts := 1
	for _, r := range rows {
		parts = max(parts, len(r.parts))
	}
	band := 8 + 16*float64(parts)
	left := 240.0
	ch := &chart{ID: id, Title: title, XLabel: xlabel, Caption: caption, L: left, T: 34, R: 610}
	ch.B = ch.T + band*float64(len(rows))
	ch.W, ch.H = 680, ch.B+44
	minStep := 1.0 // counts
	if percent {
		minStep = 0
	}
	_, right, xt := niceTicks(0, xmax, 5, minStep)
	x := linear{0, right, ch.L, ch.R}
	for _, v := range xt {
		l := tickLabel(v)
		if percent {
			l += "%"
		}
		ch.XTicks = append(ch.XTicks, tick{At: x.at(v), Label: l})
	}
	for i, r := range rows {
		y := ch.T + band*float64(i) + 4
		ch.Texts = append(ch.Texts, svgText{X: left - 6, Y: y + band/2, Anchor: "end", Text: clipMiddle(r.key, 36-len(r.note)) + r.note, Full: r.key + r.note})
		for j, p := range r.parts {
			b := bar{X: ch.L, Y: y + 16*float64(j), W: math.Max(0, x.at(p.value)-ch.L), H: 13, Class: p.class, Key: r.key,
				Value: p.data, Label: p.label, Tip: p.tip}
			b.LabelX = b.X + b.W + 4
			if p.lo != nil && p.hi != nil {
				b.Whisker, b.Lo, b.Hi, b.DLo, b.DHi = true, x.at(*p.lo), x.at(*p.hi), p.dLo, p.dHi
				b.LabelX = math.Max(b.LabelX, b.Hi+4)
			}
			ch.Bars = append(ch.Bars, b)
		}
	}
	ch.Legend = legendRow(ch.L, 16, legend)
	return ch
}

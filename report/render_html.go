// The HTML report: one self-contained page (inline CSS and SVG, no script,
// no font, nothing fetched) rendered by html/template from the Report.
//
// Adding a section (accuracy, shift, bias, ...): give htmlPage a field and
// fill it in newHTMLPage from the Report's field (a *chart from barChart or
// a builder of its own, or rows); write a {{define "name"}} block in
// render_html.tmpl that draws it, or says in one line why there is
// nothing; add {{template "name" .}} to "page". The section's tables join
// "All numbers" by themselves once sections() has them. Then refresh the
// golden pages (go test ./report -run Golden -update).

package report

import (
	"bufio"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strconv"
	"strings"
)

//go:embed render_html.tmpl
var htmlTemplateText string

// htmlTemplate is parsed once; "page" draws the whole document from an
// htmlPage, one {{define}} block per section.
var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"coord": coord,
	"add":   func(a, b float64) float64 { return a + b },
	"avg":   func(a, b float64) float64 { return (a + b) / 2 },
	"neg":   func(a float64) float64 { return -a },
	"clean": cleanText,
}).Parse(htmlTemplateText))

// WriteHTML writes the report as one HTML page for people: the verdict, the
// headline numbers, plots, the top disagreements and every table of the
// table format. Recorded bodies are untrusted: everything the page shows of
// them is escaped text.
func (r *Report) WriteHTML(w io.Writer) error {
	bw := bufio.NewWriter(w)
	if err := htmlTemplate.ExecuteTemplate(bw, "page", newHTMLPage(r)); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return nil
}

// htmlPage is what the template draws: the Report, and per section the
// values (charts, rows) laid out from it. Nothing here is a new statistic;
// every number is one of the Report's, formatted.
type htmlPage struct {
	R       *Report
	Verdict htmlVerdict
	Facts   []htmlFact

	Percentiles, Delta  *chart
	TimeLatency, TimeEr *chart
	Confusion           *chart
	Groups              *chart
	ErrorKinds          *chart
	Transitions         *chart
	Disagreements       []htmlDisagreement
	Tables              []section
}

type htmlVerdict struct {
	Class  string // pass, fail or none
	Text   string
	Gates  []htmlGate
	Failed int
}

type htmlGate struct {
	Passed             bool
	Expr, Group, Value string
	Raw                string
	Message            string
}

// htmlFact is a headline number; Key is its JSON key and Raw its exact
// value ("null" when absent), so a test can check it against the JSON.
type htmlFact struct {
	Label, Value, Detail string
	Key, Raw             string
}

type htmlDisagreement struct {
	ID, Method, Path, Status string
	Instances                int64
	Diff                     []Difference
	More                     int
}

func rawValue(p *float64) string {
	if p == nil {
		return "null"
	}
	return dataValue(*p)
}

// maxShownText bounds what the page shows of one untrusted string (a diff
// value, an id): the JSON report has it whole.
const maxShownText = 400

// cleanText makes untrusted text safe to show as text: valid UTF-8, control
// characters escaped (visible), one line's worth. (Escaping markup is
// html/template's.)
func cleanText(s string) string { return clip(s, maxShownText) }

func newHTMLPage(r *Report) *htmlPage {
	p := &htmlPage{R: r, Tables: sections(r)}
	p.Verdict = verdict(r)
	p.Facts = facts(r)
	if c := r.LatencyCurve; c != nil {
		p.Percentiles = percentileChart(c)
		if c.Delta != nil {
			p.Delta = deltaChart(c)
		}
	}
	if len(r.Timeline) > 0 {
		p.TimeLatency, p.TimeEr = timeCharts(r.Timeline)
	}
	if l := r.Agreement.Labels; l != nil && len(l.Classes) > 0 {
		p.Confusion = heatmap(l)
	}
	p.Groups = groupChart(r)
	p.ErrorKinds = errorKindChart(r.Errors)
	p.Transitions = transitionChart(r.Errors.Transitions)
	for _, d := range r.Disagreements {
		hd := htmlDisagreement{ID: d.ID, Method: d.Method, Path: d.Path, Instances: d.Instances,
			Status: fmt.Sprintf("%d → %d", d.RecordedStatus, d.CandidateStatus), Diff: d.Diff,
			More: d.Differences - len(d.Diff)}
		if d.CandidateError != "" {
			hd.Status = fmt.Sprintf("%d → %s", d.RecordedStatus, d.CandidateError)
		}
		p.Disagreements = append(p.Disagreements, hd)
	}
	return p
}

func verdict(r *Report) htmlVerdict {
	v := htmlVerdict{}
	for _, g := range r.Gates {
		hg := htmlGate{Passed: g.Passed, Expr: g.Expr, Group: g.Group, Value: "no value", Raw: rawValue(g.Value), Message: g.Message}
		if g.Value != nil {
			hg.Value = formatValue(*g.Value)
		}
		if !g.Passed {
			v.Failed++
		}
		v.Gates = append(v.Gates, hg)
	}
	switch {
	case len(r.Gates) == 0:
		v.Class, v.Text = "none", "No gates were set: the numbers below are for a person to judge."
	case v.Failed > 0:
		v.Class, v.Text = "fail", fmt.Sprintf("FAILED: %d of %d gates failed", v.Failed, len(r.Gates))
	default:
		v.Class, v.Text = "pass", fmt.Sprintf("PASSED: all %d gates passed", len(r.Gates))
	}
	return v
}

func facts(r *Report) []htmlFact {
	a := &r.Agreement
	var out []htmlFact
	ci := func(lo, hi *float64) string { return "95% CI " + pct(lo) + " – " + pct(hi) }
	head := a.Requests
	if a.Unit == "instance" {
		head = a.Instances
	}
	out = append(out, htmlFact{Label: "agreement (per " + a.Unit + ")", Value: pct(a.Rate),
		Detail: fmt.Sprintf("%d of %d; %s", head.Agreed, head.Compared, ci(a.CI95Low, a.CI95High)),
		Key:    "agreement.rate", Raw: rawValue(a.Rate)})
	if b := a.Baseline; b != nil {
		out = append(out, htmlFact{Label: "noise floor (baseline agreement)", Value: pct(b.Rate),
			Detail: ci(b.CI95Low, b.CI95High) + "; how often production disagrees with itself",
			Key:    "agreement.baseline.rate", Raw: rawValue(b.Rate)})
	}
	if rt := r.Latency.Ratio; rt != nil {
		out = append(out, htmlFact{Label: "p99 latency, candidate / " + rt.Against, Value: ratioCell(rt.P99),
			Detail: "p50 " + ratioCell(rt.P50) + ", p99.9 " + ratioCell(rt.P999), Key: "latency_ms.ratio.p99", Raw: rawValue(rt.P99)})
	}
	if c := r.Latency.Candidate; c != nil {
		out = append(out, htmlFact{Label: "candidate p99 latency", Value: msCell(c.P99) + " ms",
			Detail: "p50 " + msCell(c.P50) + " ms over " + strconv.FormatInt(c.Count, 10) + " answers",
			Key:    "latency_ms.candidate.p99", Raw: rawValue(c.P99)})
	}
	for _, s := range []struct {
		name string
		e    *SideErrors
	}{{"candidate", r.Errors.Candidate}, {"baseline", r.Errors.Baseline}, {"recorded", r.Errors.Recorded}} {
		if s.e == nil {
			continue
		}
		out = append(out, htmlFact{Label: s.name + " error rate", Value: pct(s.e.Rate),
			Detail: fmt.Sprintf("%d of %d; %s", s.e.Count, s.e.Of, ci(s.e.CI95Low, s.e.CI95High)),
			Key:    "errors." + s.name + ".rate", Raw: rawValue(s.e.Rate)})
	}
	ex := float64(r.Exchanges)
	out = append(out, htmlFact{Label: "exchanges", Value: strconv.FormatInt(r.Exchanges, 10),
		Detail: fmt.Sprintf("%d compared, %d with a baseline", a.Requests.Compared, r.WithBaseline), Key: "exchanges", Raw: rawValue(&ex)})
	return out
}

// groupChart draws agreement per group with its interval, largest group
// first (the order of Report.Groups).
func groupChart(r *Report) *chart {
	if len(r.Groups) == 0 {
		return nil
	}
	var rows []barRow
	for _, g := range r.Groups {
		a := g.Agreement
		part := barPart{class: "candidate", data: rawValue(a.Rate), label: "not compared",
			tip: fmt.Sprintf("%s: nothing compared", cleanText(g.Key))}
		if a.Rate != nil {
			lo, hi := f64(a.CI95Low)*100, f64(a.CI95High)*100
			part.value, part.lo, part.hi = *a.Rate*100, &lo, &hi
			part.dLo, part.dHi = rawValue(a.CI95Low), rawValue(a.CI95High)
			part.label = pct(a.Rate)
			part.tip = fmt.Sprintf("%s: %s [%s, %s] per %s over %d exchanges", cleanText(g.Key), pct(a.Rate), pct(a.CI95Low), pct(a.CI95High), a.Unit, g.Exchanges)
		}
		rows = append(rows, barRow{key: g.Key, note: fmt.Sprintf(" (%d)", g.Exchanges), parts: []barPart{part}})
	}
	return barChart("groups", "Agreement by "+r.Settings.slices(), "agreement (%)",
		"Agreement of each "+r.Settings.slices()+" (exchanges in brackets, largest first) with its 95% interval as a whisker: a short bar with a whisker clear of the others is a group that lost agreement.",
		rows, 100, true, []legendItem{{Class: "candidate", Text: "candidate vs recorded"}})
}

// errorKindChart draws the failed requests of each side by kind, the most
// frequent kind first.
func errorKindChart(e Errors) *chart {
	type sideErr struct {
		name string
		e    *SideErrors
	}
	var sides []sideErr
	total := map[string]int64{}
	for _, s := range []sideErr{{"recorded", e.Recorded}, {"candidate", e.Candidate}, {"baseline", e.Baseline}} {
		if s.e == nil {
			continue
		}
		sides = append(sides, s)
		for k, n := range s.e.ByKind {
			total[k] += n
		}
	}
	if len(total) == 0 {
		return nil
	}
	kinds := make([]string, 0, len(total))
	for k := range total {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if total[kinds[i]] != total[kinds[j]] {
			return total[kinds[i]] > total[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	var rows []barRow
	var hi int64
	for _, k := range kinds {
		row := barRow{key: k}
		for _, s := range sides {
			n := s.e.ByKind[k]
			hi = max(hi, n)
			row.parts = append(row.parts, barPart{class: s.name, value: float64(n), data: strconv.FormatInt(n, 10),
				label: strconv.FormatInt(n, 10), tip: fmt.Sprintf("%s: %d %s of %d requests", s.name, n, k, s.e.Of)})
		}
		rows = append(rows, row)
	}
	var legend []legendItem
	for _, s := range sides {
		legend = append(legend, legendItem{Class: s.name, Text: fmt.Sprintf("%s (%d of %d failed)", s.name, s.e.Count, s.e.Of)})
	}
	return barChart("error-kinds", "Errors by kind", "failed requests",
		"Failed requests of each side by kind, the most frequent kind first: a kind only the candidate has is a new failure.",
		rows, float64(hi), false, legend)
}

// maxTransitionBars bounds the status transitions drawn; the table below
// the plots lists them all.
const maxTransitionBars = 20

func transitionChart(ts []Transition) *chart {
	if len(ts) == 0 {
		return nil
	}
	caption := "Requests whose status changed from the recorded answer to the candidate's (an error kind where there was no answer), most frequent first."
	if len(ts) > maxTransitionBars {
		caption += fmt.Sprintf(" The %d most frequent of %d are drawn; the tables below list them all.", maxTransitionBars, len(ts))
		ts = ts[:maxTransitionBars]
	}
	var rows []barRow
	var hi int64
	for _, t := range ts {
		hi = max(hi, t.Count)
		key := t.From + " → " + t.To
		rows = append(rows, barRow{key: key, parts: []barPart{{class: "candidate", value: float64(t.Count),
			data: strconv.FormatInt(t.Count, 10), label: strconv.FormatInt(t.Count, 10), tip: fmt.Sprintf("%s: %d requests", key, t.Count)}}})
	}
	return barChart("transitions", "Status transitions", "requests", caption, rows, float64(hi), false,
		[]legendItem{{Class: "candidate", Text: "recorded → candidate"}})
}

// The template reads a section through these.

func (s section) Title() string    { return s.title }
func (s section) Header() []string { return s.header }
func (s section) Rows() [][]string { return s.rows }
func (s section) Notes() []string  { return s.notes }

// IsGates tells the template to mark failed gates.
func (s section) IsGates() bool { return s.title == "Gates" }

// TooLarge is a table too big for the page (a confusion matrix under a
// large --top); the page says so rather than growing without bound.
func (s section) TooLarge() bool { return len(s.rows) > maxTableRows || len(s.header) > maxTableRows }

const maxTableRows = 200

// HasHeader is false for the Summary's key–value table.
func (s section) HasHeader() bool { return strings.Join(s.header, "") != "" }

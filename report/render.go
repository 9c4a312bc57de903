package report

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Formats are the output formats Write knows.
var Formats = []string{"table", "json", "markdown", "junit", "html"}

// Write renders the report in one of Formats.
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "table":
		return r.WriteTable(w)
	case "json":
		return r.WriteJSON(w)
	case "markdown":
		return r.WriteMarkdown(w)
	case "junit":
		return r.WriteJUnit(w)
	case "html":
		return r.WriteHTML(w)
	}
	return fmt.Errorf("format %q: want table, json, markdown, junit or html", format)
}

// section is one titled table of a human report; the table and markdown
// renderers draw the same sections, so they always show the same numbers.
type section struct {
	title  string
	header []string
	rows   [][]string
	notes  []string
}

func pct(p *float64) string {
	if p == nil {
		return "–"
	}
	return strconv.FormatFloat(*p*100, 'f', 2, 64) + "%"
}

func rateCell(c Counts) string {
	if c.Compared == 0 {
		return "–"
	}
	return fmt.Sprintf("%d/%d = %s [%s, %s]", c.Agreed, c.Compared, pct(c.Rate), pct(c.CI95Low), pct(c.CI95High))
}

func rateOf(r Rate) string {
	return rateCell(Counts{Compared: r.Of, Agreed: r.Count, Rate: r.Rate, CI95Low: r.CI95Low, CI95High: r.CI95Hi})
}

func fnum(p *float64) string {
	if p == nil {
		return "–"
	}
	return strconv.FormatFloat(*p, 'g', 6, 64)
}

func msCell(p *float64) string {
	if p == nil {
		return "–"
	}
	return strconv.FormatFloat(*p, 'f', 3, 64)
}

func ratioCell(p *float64) string {
	if p == nil {
		return "–"
	}
	return strconv.FormatFloat(*p, 'f', 3, 64) + "×"
}

// sections are the tables of the table, Markdown and HTML reports, their
// text made visible (render_text.go).
func sections(r *Report) []section { return visibleSections(buildSections(r)) }

func buildSections(r *Report) []section {
	var out []section
	a := &r.Agreement

	sum := section{title: "Summary", header: []string{"", ""}}
	add := func(k, v string) { sum.rows = append(sum.rows, []string{k, v}) }
	add("results files", strconv.Itoa(len(r.Files)))
	if len(r.PartialFiles) > 0 {
		add("in-progress files skipped", strings.Join(r.PartialFiles, ", "))
	}
	add("exchanges", strconv.FormatInt(r.Exchanges, 10))
	add("with baseline", strconv.FormatInt(r.WithBaseline, 10))
	add("compared requests", strconv.FormatInt(a.Requests.Compared, 10))
	add("not compared: production failed", strconv.FormatInt(r.NotCompared.RecordedFailed, 10))
	add("not compared: recorded body truncated", strconv.FormatInt(r.NotCompared.RecordedTruncated, 10))
	field := a.Field
	if field != "" {
		field += " (" + a.FieldSource + ")"
	}
	if len(a.Fields) > 1 {
		var parts []string
		for _, f := range a.Fields[1:] {
			parts = append(parts, fmt.Sprintf("%s (%s): %d", f.Path, f.Source, f.Requests))
		}
		field += "; also " + strings.Join(parts, ", ")
	}
	add("prediction", field)
	add("instances are", a.Kind)
	add("tolerance", fmt.Sprintf("abs %g, rel %g", r.Settings.AbsTol, r.Settings.RelTol))
	if len(r.Settings.Ignore) > 0 {
		add("ignored", strings.Join(r.Settings.Ignore, ", "))
	}
	add("agreement (per "+a.Unit+")", fmt.Sprintf("%s [95%% CI %s, %s]", pct(a.Rate), pct(a.CI95Low), pct(a.CI95High)))
	if a.Baseline != nil {
		add("baseline agreement (noise floor)", fmt.Sprintf("%s [95%% CI %s, %s]", pct(a.Baseline.Rate), pct(a.Baseline.CI95Low), pct(a.Baseline.CI95High)))
	}
	if len(r.Gates) > 0 {
		failed := 0
		for _, g := range r.Gates {
			if !g.Passed {
				failed++
			}
		}
		verdict := "all passed"
		if failed > 0 {
			verdict = fmt.Sprintf("FAILED (%d of %d)", failed, len(r.Gates))
		}
		add("gates", verdict)
	}
	out = append(out, sum)

	ag := section{title: "Agreement", header: []string{"measure", "candidate vs recorded"}}
	if a.Baseline != nil {
		ag.header = append(ag.header, "baseline vs recorded")
	}
	row := func(name string, cell func(a *Agreement) string) {
		cells := []string{name, cell(a)}
		if a.Baseline != nil {
			cells = append(cells, cell(a.Baseline))
		}
		ag.rows = append(ag.rows, cells)
	}
	row("requests agreed [95% CI]", func(a *Agreement) string { return rateCell(a.Requests) })
	row("instances agreed [95% CI]", func(a *Agreement) string { return rateCell(a.Instances) })
	if a.Labels != nil {
		row("Cohen's kappa", func(a *Agreement) string {
			if a.Labels == nil {
				return "–"
			}
			return fnum(a.Labels.Kappa)
		})
	}
	if a.Probabilities != nil {
		row("argmax agreed [95% CI]", func(a *Agreement) string {
			if a.Probabilities == nil {
				return "–"
			}
			return rateOf(a.Probabilities.Argmax)
		})
	}
	if a.Numeric != nil {
		num := func(f func(n *NumericMetrics) *float64) func(a *Agreement) string {
			return func(a *Agreement) string {
				if a.Numeric == nil {
					return "–"
				}
				return fnum(f(a.Numeric))
			}
		}
		row("MAE", num(func(n *NumericMetrics) *float64 { return n.MAE }))
		row("RMSE", num(func(n *NumericMetrics) *float64 { return n.RMSE }))
		row("max abs diff", num(func(n *NumericMetrics) *float64 { return n.MaxAbsDiff }))
		row("Pearson r", num(func(n *NumericMetrics) *float64 { return n.Pearson }))
		row("within tolerance [95% CI]", func(a *Agreement) string {
			if a.Numeric == nil {
				return "–"
			}
			return rateOf(a.Numeric.WithinTolerance)
		})
	}
	if a.Probabilities != nil {
		row("mean cosine", func(a *Agreement) string {
			if a.Probabilities == nil {
				return "–"
			}
			return fnum(a.Probabilities.MeanCosine)
		})
	}
	if a.Embeddings != nil {
		row("mean cosine", func(a *Agreement) string {
			if a.Embeddings == nil {
				return "–"
			}
			return fnum(a.Embeddings.MeanCosine)
		})
		row("min cosine", func(a *Agreement) string {
			if a.Embeddings == nil {
				return "–"
			}
			return fnum(a.Embeddings.MinCosine)
		})
	}
	out = append(out, ag)

	if l := a.Labels; l != nil {
		cm := section{title: "Confusion matrix (rows: recorded, columns: candidate)", header: append([]string{"recorded \\ candidate"}, l.Classes...)}
		for i, c := range l.Classes {
			cells := []string{c}
			for _, n := range l.Confusion[i] {
				cells = append(cells, strconv.FormatInt(n, 10))
			}
			cm.rows = append(cm.rows, cells)
		}
		out = append(out, cm)
		pc := section{title: "Per-class agreement", header: []string{"class", "recorded", "candidate", "kept by candidate"}}
		for _, c := range l.PerClass {
			pc.rows = append(pc.rows, []string{c.Class, strconv.FormatInt(c.Recorded, 10), strconv.FormatInt(c.Candidate, 10),
				fmt.Sprintf("%d (%s)", c.Agreed, pct(c.Rate))})
		}
		out = append(out, pc)
	}

	out = append(out, llmSections(r)...)
	out = append(out, latencySection("Latency (ms)", r.Latency))
	out = append(out, errorSection(r.Errors))
	if len(r.Errors.Transitions) > 0 {
		tr := section{title: "Status transitions (recorded → candidate)", header: []string{"recorded", "candidate", "count"}}
		for _, t := range r.Errors.Transitions {
			tr.rows = append(tr.rows, []string{t.From, t.To, strconv.FormatInt(t.Count, 10)})
		}
		out = append(out, tr)
	}

	if len(r.Groups) > 0 {
		gs := section{title: "By " + r.Settings.slices(), header: []string{r.Settings.slices(), "exchanges", "agreement [95% CI]",
			"candidate errors", "candidate p99 ms", "p99 ratio"}}
		for _, g := range r.Groups {
			ag := "–"
			if g.Agreement.Rate != nil {
				ag = fmt.Sprintf("%s [%s, %s] per %s", pct(g.Agreement.Rate), pct(g.Agreement.CI95Low), pct(g.Agreement.CI95High), g.Agreement.Unit)
			}
			errs, p99, ratio := "–", "–", "–"
			if e := g.Errors.Candidate; e != nil {
				errs = fmt.Sprintf("%d (%s)", e.Count, pct(e.Rate))
			}
			if c := g.Latency.Candidate; c != nil {
				p99 = msCell(c.P99)
			}
			if rt := g.Latency.Ratio; rt != nil {
				ratio = ratioCell(rt.P99)
			}
			gs.rows = append(gs.rows, []string{g.Key, strconv.FormatInt(g.Exchanges, 10), ag, errs, p99, ratio})
		}
		out = append(out, gs)
	}
	out = append(out, truthSections(r)...)

	if len(r.Disagreements) > 0 {
		ds := section{title: fmt.Sprintf("Top %d disagreements", len(r.Disagreements)), header: []string{"id", "path", "status", "difference (recorded → candidate)"}}
		for _, d := range r.Disagreements {
			var diffs []string
			for _, x := range d.Diff {
				diffs = append(diffs, x.String())
			}
			if extra := d.Differences - len(d.Diff); extra > 0 {
				diffs = append(diffs, fmt.Sprintf("(+%d more)", extra))
			}
			status := fmt.Sprintf("%d → %d", d.RecordedStatus, d.CandidateStatus)
			if d.CandidateError != "" {
				status = fmt.Sprintf("%d → %s", d.RecordedStatus, d.CandidateError)
			}
			ds.rows = append(ds.rows, []string{d.ID, d.Path, status, strings.Join(diffs, "; ")})
		}
		out = append(out, ds)
	}

	if len(r.Gates) > 0 {
		gt := section{title: "Gates", header: []string{"result", "gate", "group", "value"}}
		for _, g := range r.Gates {
			res := "pass"
			if !g.Passed {
				res = "FAIL"
			}
			v := "no value"
			if g.Value != nil {
				v = formatValue(*g.Value)
			}
			gt.rows = append(gt.rows, []string{res, g.Expr, g.Group, v})
		}
		out = append(out, gt)
	}
	return out
}

func latencySection(title string, l Latency) section {
	s := section{title: title, header: []string{"side", "count", "mean", "p50", "p90", "p95", "p99", "p99.9", "max"}}
	side := func(name string, x *LatencySummary) {
		if x == nil {
			return
		}
		s.rows = append(s.rows, []string{name, strconv.FormatInt(x.Count, 10), msCell(x.Mean), msCell(x.P50), msCell(x.P90),
			msCell(x.P95), msCell(x.P99), msCell(x.P999), msCell(x.Max)})
	}
	side("recorded", l.Recorded)
	side("candidate", l.Candidate)
	side("baseline", l.Baseline)
	if rt := l.Ratio; rt != nil {
		s.rows = append(s.rows, []string{"candidate / " + rt.Against, "", "", ratioCell(rt.P50), ratioCell(rt.P90),
			ratioCell(rt.P95), ratioCell(rt.P99), ratioCell(rt.P999), ""})
		if rt.Note != "" {
			s.notes = append(s.notes, "Note: "+rt.Note+".")
		}
	}
	if d := l.Delta; d != nil {
		s.rows = append(s.rows, []string{"candidate − baseline (paired)", strconv.FormatInt(d.Count, 10), msCell(d.Mean),
			msCell(d.P50), msCell(d.P90), "", msCell(d.P99), "", ""})
	}
	return s
}

func errorSection(e Errors) section {
	s := section{title: "Errors", header: []string{"side", "errors", "rate [95% CI]", "by kind"}}
	side := func(name string, x *SideErrors) {
		if x == nil {
			return
		}
		kinds := make([]string, 0, len(x.ByKind))
		for k := range x.ByKind {
			kinds = append(kinds, k)
		}
		sort.Slice(kinds, func(i, j int) bool {
			if x.ByKind[kinds[i]] != x.ByKind[kinds[j]] {
				return x.ByKind[kinds[i]] > x.ByKind[kinds[j]]
			}
			return kinds[i] < kinds[j]
		})
		for i, k := range kinds {
			kinds[i] = fmt.Sprintf("%s %d", k, x.ByKind[k])
		}
		s.rows = append(s.rows, []string{name, fmt.Sprintf("%d/%d", x.Count, x.Of),
			fmt.Sprintf("%s [%s, %s]", pct(x.Rate), pct(x.CI95Low), pct(x.CI95High)), strings.Join(kinds, ", ")})
	}
	side("recorded", e.Recorded)
	side("candidate", e.Candidate)
	side("baseline", e.Baseline)
	return s
}

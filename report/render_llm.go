// The human sections of LLM answers: text agreement, tool calls, finish
// reasons, tokens, time to first token and inter-token latency.

package report

import (
	"fmt"
	"strconv"
	"strings"
)

func llmSections(r *Report) []section {
	var out []section
	a := &r.Agreement
	base := a.Baseline
	if a.Text != nil || a.ToolCalls != nil || a.FinishReason != nil || base != nil && base.Text != nil {
		s := section{title: "LLM answers", header: []string{"measure", "candidate vs recorded"}}
		if base != nil {
			s.header = append(s.header, "baseline vs recorded")
		}
		row := func(name string, cell func(a *Agreement) string) {
			cells := []string{name, cell(a)}
			if base != nil {
				cells = append(cells, cell(base))
			}
			s.rows = append(s.rows, cells)
		}
		text := func(get func(t *TextAgreement) string) func(a *Agreement) string {
			return func(a *Agreement) string {
				if a.Text == nil {
					return "–"
				}
				return get(a.Text)
			}
		}
		dist := func(d *Distribution) string {
			if d == nil {
				return "–"
			}
			return fmt.Sprintf("mean %s, p10 %s, p50 %s", fnum(d.Mean), fnum(d.P10), fnum(d.P50))
		}
		row("texts compared", text(func(t *TextAgreement) string { return strconv.FormatInt(t.Count, 10) }))
		row("exact", text(func(t *TextAgreement) string { return pct(t.Exact) }))
		row("normalized", text(func(t *TextAgreement) string { return pct(t.Normalized) }))
		row("agreed (rule)", text(func(t *TextAgreement) string { return pct(t.Agreed) + " (" + t.Rule + ")" }))
		row("token F1", text(func(t *TextAgreement) string { return dist(t.TokenF1) }))
		row("ROUGE-L", text(func(t *TextAgreement) string { return dist(t.RougeL) }))
		row("edit similarity", text(func(t *TextAgreement) string { return dist(t.Edit) }))
		if a.Text != nil && a.Text.JSON != nil || base != nil && base.Text != nil && base.Text.JSON != nil {
			row("JSON contents agreed", text(func(t *TextAgreement) string {
				if t.JSON == nil {
					return "–"
				}
				return fmt.Sprintf("%s of %d", pct(t.JSON.Agreed), t.JSON.Count)
			}))
		}
		if a.ToolCalls != nil {
			row("tool calls: names, arguments", func(a *Agreement) string {
				tc := a.ToolCalls
				if tc == nil {
					return "–"
				}
				return fmt.Sprintf("%s, %s of %d (%d choices with another number of calls)", pct(tc.Names), pct(tc.Arguments), tc.Count, tc.CountMismatch)
			})
		}
		if a.FinishReason != nil {
			row("finish_reason changed", func(a *Agreement) string {
				fr := a.FinishReason
				if fr == nil {
					return "–"
				}
				var parts []string
				for _, t := range fr.Transitions {
					parts = append(parts, fmt.Sprintf("%s → %s %d", t.From, t.To, t.Count))
				}
				cell := fmt.Sprintf("%s of %d", pct(fr.Changed), fr.Count)
				if len(parts) > 0 {
					cell += ": " + strings.Join(parts, ", ")
				}
				return cell
			})
		}
		out = append(out, s)
	}
	if t := r.Tokens; t != nil {
		s := section{title: "Completion tokens", header: []string{"side", "count", "mean", "p50", "p99", "max", "tokens/s mean", "tokens/s p50", "source"}}
		side := func(name string, x *SideTokens) {
			if x == nil {
				return
			}
			c, ps := x.Completion, x.PerSecond
			if ps == nil {
				ps = &Summary{}
			}
			s.rows = append(s.rows, []string{name, strconv.FormatInt(c.Count, 10), fnum(c.Mean), fnum(c.P50), fnum(c.P99), fnum(c.Max),
				fnum(ps.Mean), fnum(ps.P50), x.Source})
		}
		side("recorded", t.Recorded)
		side("candidate", t.Candidate)
		side("baseline", t.Baseline)
		if t.Ratio != nil && t.Ratio.Completion != nil {
			s.rows = append(s.rows, []string{"candidate / recorded (mean)", "", ratioCell(t.Ratio.Completion), "", "", "", "", "", ""})
		}
		if t.Ratio != nil && t.Ratio.Baseline != nil {
			s.rows = append(s.rows, []string{"baseline / recorded (mean)", "", ratioCell(t.Ratio.Baseline), "", "", "", "", "", ""})
		}
		s.notes = append(s.notes, "tokens/s is completion tokens over each request's whole latency.")
		out = append(out, s)
	}
	if t := r.Latency.TTFT; t != nil {
		s := latencySection("Time to first token (ms)", Latency{Recorded: t.Recorded, Candidate: t.Candidate, Baseline: t.Baseline,
			Ratio: t.Ratio, Delta: t.Delta})
		s.notes = append(s.notes, "From the request to the end of the first event that carries content.")
		out = append(out, s)
	}
	if i := r.Latency.ITL; i != nil {
		s := latencySection("Inter-token latency (ms)", Latency{Recorded: i.Recorded, Candidate: i.Candidate, Baseline: i.Baseline})
		s.notes = append(s.notes, "Gaps between consecutive events that carry content; events that came in one read are 0 apart.")
		out = append(out, s)
	}
	return out
}

// llmSummary is the one-line LLM summary a JUnit case carries ("" for other
// answers).
func llmSummary(r *Report) string {
	var parts []string
	if t := r.Agreement.Text; t != nil {
		p := fmt.Sprintf("text exact %s, agreed %s (%s)", pct(t.Exact), pct(t.Agreed), t.Rule)
		if t.Similarity != nil {
			p += fmt.Sprintf(", %s mean %s", t.Similarity.Metric, fnum(t.Similarity.Mean))
		}
		parts = append(parts, p)
	}
	if t := r.Latency.TTFT; t != nil && t.Candidate != nil {
		p := "TTFT candidate p50 " + msCell(t.Candidate.P50) + " ms"
		if t.Ratio != nil {
			p += ", p99 ratio " + ratioCell(t.Ratio.P99) + " vs " + t.Ratio.Against
		}
		parts = append(parts, p)
	}
	if t := r.Tokens; t != nil && t.Ratio != nil && t.Ratio.Completion != nil {
		parts = append(parts, "completion tokens candidate/recorded "+ratioCell(t.Ratio.Completion))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

// The sections of accuracy, prediction shift, the slice view and bias,
// shared by the table and markdown renderers, and their one-line summary
// for JUnit.

package report

import (
	"fmt"
	"strconv"
	"strings"
)

func signedPct(p *float64) string {
	if p == nil {
		return "–"
	}
	return strconv.FormatFloat(*p*100, 'f', 2, 64) + " pp"
}

func accuracyCell(s *SideAccuracy) string {
	if s == nil {
		return "–"
	}
	return fmt.Sprintf("%d/%d = %s [%s, %s]", s.Correct, s.Count, pct(s.Rate), pct(s.CI95Low), pct(s.CI95High))
}

// truthSections are the sections that judge predictions: accuracy, shift,
// the slices and bias; none when nothing applies.
func truthSections(r *Report) []section {
	var out []section
	if a := r.Accuracy; a != nil {
		s := section{title: "Accuracy against labels (key " + a.Key + ")", header: []string{"measure", "recorded", "candidate"}}
		base := a.Baseline != nil
		if base {
			s.header = append(s.header, "baseline")
		}
		row := func(name string, f func(*SideAccuracy) string) {
			cells := []string{name, f(a.Recorded), f(a.Candidate)}
			if base {
				cells = append(cells, f(a.Baseline))
			}
			s.rows = append(s.rows, cells)
		}
		row("accuracy [95% CI]", accuracyCell)
		row("macro-F1", func(x *SideAccuracy) string {
			if x == nil {
				return "–"
			}
			return fnum(x.MacroF1)
		})
		if (a.Recorded != nil && a.Recorded.MAE != nil) || (a.Candidate != nil && a.Candidate.MAE != nil) {
			row("MAE", func(x *SideAccuracy) string {
				if x == nil {
					return "–"
				}
				return fnum(x.MAE)
			})
			row("RMSE", func(x *SideAccuracy) string {
				if x == nil {
					return "–"
				}
				return fnum(x.RMSE)
			})
		}
		s.notes = append(s.notes, fmt.Sprintf("Labeled instances %d, without a label %d; labels matching no exchange %d.",
			a.Labeled, a.Unlabeled, a.LabelsUnmatched))
		if d := a.Delta; d != nil {
			s.notes = append(s.notes, fmt.Sprintf("Candidate − recorded: %s [95%% CI %s, %s] on %d instances; McNemar exact p = %s (b = %d recorded-only right, c = %d candidate-only right).",
				signedPct(d.Rate), signedPct(d.CI95Low), signedPct(d.CI95High), d.Count, fnum(a.McNemar.PValue), a.McNemar.B, a.McNemar.C))
		}
		out = append(out, s)
		if a.Candidate != nil && len(a.Candidate.PerClass) > 0 {
			pc := section{title: "Per-class precision / recall / F1 (recorded | candidate)",
				header: []string{"class", "support", "recorded P / R / F1", "candidate P / R / F1"}}
			recBy := map[string]ClassScore{}
			if a.Recorded != nil {
				for _, c := range a.Recorded.PerClass {
					recBy[c.Class] = c
				}
			}
			prf := func(c ClassScore, ok bool) string {
				if !ok {
					return "–"
				}
				return fnum(c.Precision) + " / " + fnum(c.Recall) + " / " + fnum(c.F1)
			}
			for _, c := range a.Candidate.PerClass {
				rc, ok := recBy[c.Class]
				pc.rows = append(pc.rows, []string{c.Class, strconv.FormatInt(c.Support, 10), prf(rc, ok), prf(c, true)})
			}
			out = append(out, pc)
		}
	}
	if sh := r.Shift; sh != nil {
		s := section{title: "Prediction shift (recorded → candidate, " + sh.Kind + ")", header: []string{"measure", "value"}}
		s.rows = append(s.rows, []string{"PSI", fnum(sh.PSI)})
		if sh.Kind == kindLabels {
			s.rows = append(s.rows, []string{"chi-square (df " + strconv.Itoa(sh.DF) + ")", fnum(sh.ChiSquare)},
				[]string{"p-value", fnum(sh.PValue)})
			for i, c := range sh.Classes {
				if i == 10 {
					s.notes = append(s.notes, fmt.Sprintf("(%d more classes in the JSON report)", len(sh.Classes)-10))
					break
				}
				s.rows = append(s.rows, []string{"share of " + c.Class, fmt.Sprintf("%.2f%% → %.2f%%", c.Recorded*100, c.Candidate*100)})
			}
		}
		if sc := sh.Scores; sc != nil {
			s.rows = append(s.rows, []string{"KS statistic", fnum(sc.KS)}, []string{"KS p-value", fnum(sc.KSPValue)},
				[]string{"Wasserstein distance", fnum(sc.Wasserstein)})
		}
		out = append(out, s)
	}
	if len(r.Groups) > 0 && r.Groups[0].Predictions != nil {
		s := section{title: "Predictions by " + r.Settings.slices(), header: []string{"group", "instances", "top class (recorded → candidate)"}}
		pos := r.Settings.PositiveClass != "" || r.Bias != nil
		if pos {
			s.header = append(s.header, "positive rate (recorded → candidate)")
		}
		withAcc := r.Accuracy != nil
		if withAcc {
			s.header = append(s.header, "accuracy recorded", "accuracy candidate")
			if pos {
				s.header = append(s.header, "TPR (recorded → candidate)")
			}
		}
		for _, g := range r.Groups {
			p := g.Predictions
			if p == nil {
				p = &GroupPredictions{}
			}
			n := int64(0)
			if p.Recorded != nil {
				n = p.Recorded.Count
			}
			cells := []string{g.Key, strconv.FormatInt(n, 10), topClass(p.Recorded) + " → " + topClass(p.Candidate)}
			if pos {
				cells = append(cells, pct(positiveRate(p.Recorded))+" → "+pct(positiveRate(p.Candidate)))
			}
			if withAcc {
				ga := g.Accuracy
				if ga == nil {
					ga = &GroupAccuracy{}
				}
				cells = append(cells, sliceAccCell(ga.Recorded), sliceAccCell(ga.Candidate))
				if pos {
					cells = append(cells, pct(tpr(ga.Recorded))+" → "+pct(tpr(ga.Candidate)))
				}
			}
			s.rows = append(s.rows, cells)
		}
		out = append(out, s)
	}
	if b := r.Bias; b != nil {
		s := section{title: fmt.Sprintf("Bias across %s (positive class %s)", b.By, b.PositiveClass),
			header: []string{"side", "parity gap (max − min positive rate)", "opportunity gap (max − min TPR)", "groups used"}}
		side := func(name string, x *SideBias) {
			if x == nil {
				return
			}
			s.rows = append(s.rows, []string{name, gapCell(x.ParityGap, x.ParityGroups), gapCell(x.OpportunityGap, x.OpportunityGroups),
				strconv.FormatInt(x.GroupsUsed, 10)})
		}
		side("recorded", b.Recorded)
		side("candidate", b.Candidate)
		side("baseline", b.Baseline)
		if d := b.Delta; d != nil {
			s.rows = append(s.rows, []string{"candidate − recorded", signedPct(d.ParityGap), signedPct(d.OpportunityGap), ""})
		}
		if len(b.Excluded) > 0 {
			s.notes = append(s.notes, fmt.Sprintf("Left out of the gaps (fewer than %d instances): %s.", b.MinGroup, strings.Join(b.Excluded, ", ")))
		}
		out = append(out, s)
	}
	return out
}

func topClass(p *SidePredictions) string {
	if p == nil || len(p.Classes) == 0 {
		return "–"
	}
	return fmt.Sprintf("%s %.0f%%", p.Classes[0].Class, p.Classes[0].Share*100)
}

func positiveRate(p *SidePredictions) *float64 {
	if p == nil {
		return nil
	}
	return p.PositiveRate
}

func tpr(a *SliceAccuracy) *float64 {
	if a == nil {
		return nil
	}
	return a.TruePositiveRate
}

func sliceAccCell(a *SliceAccuracy) string {
	if a == nil {
		return "–"
	}
	return fmt.Sprintf("%d/%d = %s", a.Correct, a.Count, pct(a.Rate))
}

func gapCell(gap *float64, groups []string) string {
	if gap == nil {
		return "–"
	}
	if len(groups) == 2 {
		return fmt.Sprintf("%s (%s vs %s)", signedPct(gap), groups[0], groups[1])
	}
	return signedPct(gap)
}

// truthSummary is the accuracy, shift and bias headline on one line, for
// JUnit; "" when none applies.
func truthSummary(r *Report) string {
	var parts []string
	if a := r.Accuracy; a != nil {
		s := fmt.Sprintf("accuracy recorded %s, candidate %s", pct(rateOfSide(a.Recorded)), pct(rateOfSide(a.Candidate)))
		if a.Delta != nil {
			s += fmt.Sprintf(" (delta %s [95%% CI %s, %s], McNemar p %s)", signedPct(a.Delta.Rate), signedPct(a.Delta.CI95Low),
				signedPct(a.Delta.CI95High), fnum(a.McNemar.PValue))
		}
		parts = append(parts, s)
	}
	if sh := r.Shift; sh != nil {
		parts = append(parts, "prediction shift PSI "+fnum(sh.PSI))
	}
	if b := r.Bias; b != nil && b.Delta != nil {
		parts = append(parts, "bias delta: parity gap "+signedPct(b.Delta.ParityGap)+", opportunity gap "+signedPct(b.Delta.OpportunityGap))
	}
	return strings.Join(parts, "; ")
}

func rateOfSide(s *SideAccuracy) *float64 {
	if s == nil {
		return nil
	}
	return s.Rate
}

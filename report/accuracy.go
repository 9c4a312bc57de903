// Accuracy against ground truth: each side's predictions judged against the
// labels, per instance, and the paired comparison of the candidate with the
// recorded side.

package report

import (
	"math"
	"sort"
	"strconv"
)

// The sides of a row, in the order of the [3] arrays below.
const (
	sideRecorded = iota
	sideCandidate
	sideBaseline
)

// Accuracy is every side judged against the labels. Null in the report
// without labels.
type Accuracy struct {
	// Key is how an exchange found its label: "id", "header:NAME" or
	// "request:JSONPATH".
	Key string `json:"key"`
	// Labeled counts the compared instances that had a label, Unlabeled
	// those that had none; LabelsUnmatched the label keys no exchange
	// carried.
	Labeled         int64         `json:"labeled"`
	Unlabeled       int64         `json:"unlabeled"`
	LabelsUnmatched int64         `json:"labels_unmatched"`
	Recorded        *SideAccuracy `json:"recorded"`
	Candidate       *SideAccuracy `json:"candidate"`
	Baseline        *SideAccuracy `json:"baseline"`
	// Delta is candidate − recorded accuracy on the same instances.
	Delta   *AccuracyDelta `json:"delta"`
	McNemar *McNemar       `json:"mcnemar"`
}

// SideAccuracy is one side's predictions against the labels.
type SideAccuracy struct {
	// Count is the labeled instances, Correct those the side got right (a
	// failed answer is wrong).
	Count    int64    `json:"count"`
	Correct  int64    `json:"correct"`
	Rate     *float64 `json:"rate" gate:"unit"`
	CI95Low  *float64 `json:"ci95_low" gate:"unit"`
	CI95High *float64 `json:"ci95_high" gate:"unit"`
	// MacroF1 is the unweighted mean of the per-class F1 scores.
	MacroF1  *float64     `json:"macro_f1" gate:"unit"`
	PerClass []ClassScore `json:"per_class"`
	// MAE and RMSE: numeric predictions against numeric labels; null when
	// there were none.
	MAE  *float64 `json:"mae" gate:"nonneg"`
	RMSE *float64 `json:"rmse" gate:"nonneg"`
}

// ClassScore is precision, recall and F1 of one true class.
type ClassScore struct {
	Class     string   `json:"class"`
	Precision *float64 `json:"precision"`
	Recall    *float64 `json:"recall"`
	F1        *float64 `json:"f1"`
	// Support is the number of instances whose label is the class.
	Support int64 `json:"support"`
}

// AccuracyDelta is candidate − recorded accuracy on the same labeled
// instances, with a 95% interval for a paired difference.
type AccuracyDelta struct {
	Count    int64    `json:"count"`
	Rate     *float64 `json:"rate" gate:"signed"`
	CI95Low  *float64 `json:"ci95_low" gate:"signed"`
	CI95High *float64 `json:"ci95_high" gate:"signed"`
}

// McNemar is the exact McNemar test on the discordant pairs: B instances
// the recorded side got right and the candidate wrong, C the reverse.
type McNemar struct {
	B      int64    `json:"b"`
	C      int64    `json:"c"`
	PValue *float64 `json:"p_value" gate:"unit"`
}

// truthState is what accuracy counts: plain fields, so that it round-trips
// through encoding/json and merges.
type truthState struct {
	Labeled, Unlabeled int64
	Sides              [3]truthSide
	// B, C and Paired: the recorded-vs-candidate pairs (see McNemar).
	B, C, Paired int64
}

type truthSide struct {
	N, Correct int64
	// Classes count per class: true positives, predictions and labels.
	Classes map[string]*classCount
	// NumN, AbsSum and SqSum: numeric predictions against numeric labels.
	NumN          int64
	AbsSum, SqSum float64
}

type classCount struct{ TP, Pred, True int64 }

// judgment is one prediction against its label.
type judgment struct {
	correct bool
	// class is the predicted class ("" when there is none: no answer, or
	// a numeric prediction).
	class string
	// numeric: a number against a numeric label, off by diff.
	numeric bool
	diff    float64
}

// classOf is the class a predicted instance names: a label as is, a score
// (numeric, not a class), the argmax index of a vector of probabilities;
// "" for a missing prediction or one that is none of those (an object,
// a list of anything but numbers).
func classOf(pred any) (class string, numeric bool) {
	switch x := pred.(type) {
	case nil:
		return "", false
	case float64:
		return formatFloat(x), true
	case int64:
		return strconv.FormatInt(x, 10), false
	case []any:
		if len(x) > 0 && allNumbers(x) {
			return strconv.Itoa(argmax(floats(x))), false
		}
		return "", false
	case map[string]any:
		// A whole JSON document is no class: it counts as no prediction.
		return "", false
	}
	return labelOf(pred), false
}

// judge compares one predicted instance with its label. A missing
// prediction (nil) is wrong.
func judge(pred any, label string, tol Tolerance) judgment {
	c, numeric := classOf(pred)
	switch {
	case c == "":
		return judgment{}
	case numeric:
		x := pred.(float64)
		y, err := strconv.ParseFloat(label, 64)
		if err != nil {
			return judgment{class: c}
		}
		return judgment{correct: tol.Equal(y, x), numeric: true, diff: x - y}
	case c == label:
		return judgment{correct: true, class: c}
	}
	if x, ok := pred.(int64); ok {
		// 1 is right for a label written 1.0.
		y, err := strconv.ParseFloat(label, 64)
		return judgment{correct: err == nil && y == float64(x), class: c}
	}
	return judgment{class: c}
}

func (s *truthSide) add(j judgment, label string) {
	s.N++
	if j.correct {
		s.Correct++
	}
	if j.numeric {
		// MAE and RMSE are over the finite errors: one NaN or Inf would
		// make them null for every other pair.
		if !math.IsNaN(j.diff) && !math.IsInf(j.diff, 0) {
			s.NumN++
			s.AbsSum += math.Abs(j.diff)
			s.SqSum += j.diff * j.diff
		}
		return
	}
	if s.Classes == nil {
		s.Classes = map[string]*classCount{}
	}
	s.class(classKey(label)).True++
	if j.class != "" {
		p := s.class(classKey(j.class))
		p.Pred++
		if j.correct {
			p.TP++ // right means the same class (classKey)
		}
	}
}

// classKey is the name a class is counted under: a number as Go writes it
// (labels 1.0 and 1 and a prediction 1 are one class, as judge counts a 1
// right for a label 1.0), anything else as it is.
func classKey(c string) string {
	if x, err := strconv.ParseFloat(c, 64); err == nil {
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return c
}

// class is the counter of c, or of otherClass past maxLabels classes.
func (s *truthSide) class(c string) *classCount {
	if cc, ok := s.Classes[c]; ok {
		return cc
	}
	if len(s.Classes) >= maxLabels {
		c = otherClass
		if cc, ok := s.Classes[c]; ok {
			return cc
		}
	}
	cc := &classCount{}
	s.Classes[c] = cc
	return cc
}

func (s *truthSide) merge(o *truthSide) {
	s.N += o.N
	s.Correct += o.Correct
	s.NumN += o.NumN
	s.AbsSum += o.AbsSum
	s.SqSum += o.SqSum
	for k, v := range o.Classes {
		if s.Classes == nil {
			s.Classes = map[string]*classCount{}
		}
		c := s.class(k)
		c.TP += v.TP
		c.Pred += v.Pred
		c.True += v.True
	}
}

func (t *truthState) merge(o *truthState) {
	t.Labeled += o.Labeled
	t.Unlabeled += o.Unlabeled
	t.B += o.B
	t.C += o.C
	t.Paired += o.Paired
	for i := range t.Sides {
		t.Sides[i].merge(&o.Sides[i])
	}
}

// add judges the labeled instances of one row.
func (t *truthState) add(v *rowView) {
	if v.labels == nil {
		t.Unlabeled += int64(v.n)
		return
	}
	t.Labeled += int64(v.n)
	for i, label := range v.labels {
		var ok [3]bool
		for s := range 3 {
			if !v.has[s] {
				continue
			}
			j := v.judged[s][i]
			ok[s] = j.correct
			t.Sides[s].add(j, label)
		}
		if v.has[sideCandidate] {
			t.Paired++
			switch {
			case ok[sideRecorded] && !ok[sideCandidate]:
				t.B++
			case !ok[sideRecorded] && ok[sideCandidate]:
				t.C++
			}
		}
	}
}

func (t *truthState) report(key string, unmatched int64, top int) *Accuracy {
	a := &Accuracy{Key: key, Labeled: t.Labeled, Unlabeled: t.Unlabeled, LabelsUnmatched: unmatched}
	a.Recorded = t.Sides[sideRecorded].report(top)
	a.Candidate = t.Sides[sideCandidate].report(top)
	a.Baseline = t.Sides[sideBaseline].report(top)
	if t.Paired > 0 {
		lo, hi := pairedDiffCI(t.B, t.C, t.Paired)
		a.Delta = &AccuracyDelta{Count: t.Paired, Rate: num(float64(t.C-t.B) / float64(t.Paired)), CI95Low: num(lo), CI95High: num(hi)}
		a.McNemar = &McNemar{B: t.B, C: t.C, PValue: num(mcnemarExact(t.B, t.C))}
	}
	return a
}

// maxClassScores bounds the classes listed per side (by support); macro-F1
// is over every class.
const maxClassScores = 50

func (s *truthSide) report(top int) *SideAccuracy {
	if s.N == 0 {
		return nil
	}
	r := rate(s.Correct, s.N)
	out := &SideAccuracy{Count: s.N, Correct: s.Correct, Rate: r.Rate, CI95Low: r.CI95Low, CI95High: r.CI95Hi,
		PerClass: []ClassScore{}}
	if s.NumN > 0 {
		out.MAE = num(s.AbsSum / float64(s.NumN))
		out.RMSE = num(math.Sqrt(s.SqSum / float64(s.NumN)))
	}
	var f1Sum float64
	var f1N int
	for name, c := range s.Classes {
		// Every class seen on either side, as scikit-learn's labels=None;
		// an undefined ratio is 0, as its zero_division=0.
		cs := ClassScore{Class: name, Support: c.True, Precision: num(0), Recall: num(0)}
		if c.Pred > 0 {
			cs.Precision = num(float64(c.TP) / float64(c.Pred))
		}
		if c.True > 0 {
			cs.Recall = num(float64(c.TP) / float64(c.True))
		}
		p, rc := *cs.Precision, *cs.Recall
		f1 := 0.0
		if p+rc > 0 {
			f1 = 2 * p * rc / (p + rc)
		}
		cs.F1 = num(f1)
		f1Sum += f1
		f1N++
		out.PerClass = append(out.PerClass, cs)
	}
	if f1N > 0 {
		out.MacroF1 = num(f1Sum / float64(f1N))
	}
	sort.Slice(out.PerClass, func(i, j int) bool {
		a, b := out.PerClass[i], out.PerClass[j]
		if a.Support != b.Support {
			return a.Support > b.Support
		}
		return lessLabel(a.Class, b.Class)
	})
	if len(out.PerClass) > max(top, maxClassScores) {
		out.PerClass = out.PerClass[:max(top, maxClassScores)]
	}
	return out
}

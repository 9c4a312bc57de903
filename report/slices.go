// Slices: the group keys of a row (per instance where a request path
// selects one value per instance), and what each group counts of the
// predictions and, with labels, of their accuracy.

package report

import (
	"maps"
	"slices"
	"sort"
	"strings"
)

// groupSep joins the values of several --by slices into one group key.
const groupSep = " | "

// slices names what the groups' keys are made of, the slices joined as
// their values are ("path | method" for keys "/v1/... | POST").
func (s Settings) slices() string {
	return strings.Join(append([]string{s.By}, s.ByAlso...), groupSep)
}

// sliceKeys returns the group keys of a row: one for the whole row, or one
// per instance when a slice selects several values. Several slices combine
// value by value; slices of different lengths give (missing).
func (b *Builder) sliceKeys(q *rowRequest) []string {
	if len(b.slices) == 1 {
		b.keyBuf = b.slices[0].values(q, b.keyBuf[:0])
		return b.keyBuf
	}
	m := 1
	vals := b.valBuf[:0]
	for i := range b.slices {
		v := b.slices[i].values(q, nil)
		vals = append(vals, v)
		if len(v) > 1 {
			if m > 1 && len(v) != m {
				m = -1
			} else if m != -1 {
				m = len(v)
			}
		}
	}
	b.valBuf = vals
	out := b.keyBuf[:0]
	if m < 0 {
		b.keyBuf = append(out, missingGroup)
		return b.keyBuf
	}
	var sb strings.Builder
	for i := range m {
		sb.Reset()
		for j, v := range vals {
			if j > 0 {
				sb.WriteString(groupSep)
			}
			if len(v) == 1 {
				sb.WriteString(v[0])
			} else {
				sb.WriteString(v[i])
			}
		}
		out = append(out, sb.String())
	}
	b.keyBuf = out
	return out
}

// slicePreds is what a group counts of the predictions (per side) and their
// accuracy; plain fields, so it round-trips through encoding/json.
type slicePreds struct {
	Sides [3]sliceSide
}

type sliceSide struct {
	// Instances counts the group's instances the side was sent (answered
	// or not): the denominator of its positive rate, and the group's size
	// that --min-group judges. N counts those it answered with a class;
	// Classes counts them by class (bounded), Positive those of the
	// positive class.
	Instances int64
	N         int64
	Classes   map[string]int64
	// Order lists the keys of Classes as first seen: a merge takes them in
	// that order, so the classes kept under maxGroupClasses are those a
	// single pass keeps.
	Order    []string
	Positive int64
	// Labeled and Correct: instances with a label; LabelPos those whose
	// label is the positive class, TruePos those of them predicted so.
	Labeled, Correct  int64
	LabelPos, TruePos int64
}

// maxGroupClasses bounds the classes a group counts; the rest count as
// otherClass.
const maxGroupClasses = 50

func (s *sliceSide) addClass(c string, positive bool) {
	s.N++
	if positive {
		s.Positive++
	}
	s.count(c, 1)
}

// count adds n to class c, or to otherClass once maxGroupClasses are
// counted.
func (s *sliceSide) count(c string, n int64) {
	if s.Classes == nil {
		s.Classes = map[string]int64{}
	}
	if _, ok := s.Classes[c]; !ok {
		if len(s.Classes) >= maxGroupClasses {
			c = otherClass
		}
		if _, ok := s.Classes[c]; !ok {
			s.Order = append(s.Order, c)
		}
	}
	s.Classes[c] += n
}

func (s *sliceSide) merge(o *sliceSide) {
	s.Instances += o.Instances
	s.N += o.N
	s.Positive += o.Positive
	s.Labeled += o.Labeled
	s.Correct += o.Correct
	s.LabelPos += o.LabelPos
	s.TruePos += o.TruePos
	for _, k := range o.Order {
		s.count(k, o.Classes[k])
	}
}

func (p *slicePreds) merge(o *slicePreds) {
	if o == nil {
		return
	}
	for i := range p.Sides {
		p.Sides[i].merge(&o.Sides[i])
	}
}

// add counts instance i of a row's view.
func (p *slicePreds) add(v *rowView, i int, positive string) {
	for s := range 3 {
		if !v.has[s] {
			continue
		}
		side := &p.Sides[s]
		side.Instances++
		pred := v.pred(s, i)
		c, numeric := classOf(pred)
		if c != "" && !numeric && !v.text {
			side.addClass(c, positive != "" && classKey(c) == classKey(positive))
		}
		if v.labels == nil {
			continue
		}
		label := v.labels[i]
		side.Labeled++
		j := v.judged[s][i]
		if j.correct {
			side.Correct++
		}
		if positive != "" && classKey(label) == classKey(positive) {
			side.LabelPos++
			if j.class != "" && classKey(j.class) == classKey(positive) {
				side.TruePos++
			}
		}
	}
}

// GroupPredictions are each side's predictions in one group.
type GroupPredictions struct {
	Recorded  *SidePredictions `json:"recorded"`
	Candidate *SidePredictions `json:"candidate"`
	Baseline  *SidePredictions `json:"baseline"`
}

// SidePredictions are one side's class shares in a group.
type SidePredictions struct {
	Count int64 `json:"count"`
	// PositiveRate is the share of the group's instances the side
	// predicted as the positive class, an instance it failed to answer
	// counting as not (null without a positive class). Classes' shares
	// are of the instances it answered with a class (Count).
	PositiveRate *float64     `json:"positive_rate" gate:"unit"`
	Classes      []ClassShare `json:"classes"`
}

// ClassShare is the count and share of one class.
type ClassShare struct {
	Class string  `json:"class"`
	Count int64   `json:"count"`
	Share float64 `json:"share"`
}

// GroupAccuracy is each side's accuracy in one group.
type GroupAccuracy struct {
	Recorded  *SliceAccuracy `json:"recorded"`
	Candidate *SliceAccuracy `json:"candidate"`
	Baseline  *SliceAccuracy `json:"baseline"`
	// Delta is candidate − recorded accuracy in the group.
	Delta *float64 `json:"delta" gate:"signed"`
}

// SliceAccuracy is one side's accuracy in a group.
type SliceAccuracy struct {
	Count    int64    `json:"count"`
	Correct  int64    `json:"correct"`
	Rate     *float64 `json:"rate" gate:"unit"`
	CI95Low  *float64 `json:"ci95_low" gate:"unit"`
	CI95High *float64 `json:"ci95_high" gate:"unit"`
	// TruePositiveRate: of the instances labeled the positive class, the
	// share predicted so (null without a positive class or such labels).
	TruePositiveRate *float64 `json:"true_positive_rate" gate:"unit"`
}

func (p *slicePreds) predictions(positive string) *GroupPredictions {
	if p == nil {
		return nil
	}
	side := func(s *sliceSide) *SidePredictions {
		if s.N == 0 {
			return nil
		}
		out := &SidePredictions{Count: s.N, Classes: []ClassShare{}}
		if positive != "" {
			out.PositiveRate = num(float64(s.Positive) / float64(s.Instances))
		}
		for c, n := range s.Classes {
			out.Classes = append(out.Classes, ClassShare{Class: c, Count: n, Share: float64(n) / float64(s.N)})
		}
		sort.Slice(out.Classes, func(i, j int) bool {
			a, b := out.Classes[i], out.Classes[j]
			if a.Count != b.Count {
				return a.Count > b.Count
			}
			return lessLabel(a.Class, b.Class)
		})
		return out
	}
	g := &GroupPredictions{Recorded: side(&p.Sides[sideRecorded]), Candidate: side(&p.Sides[sideCandidate]),
		Baseline: side(&p.Sides[sideBaseline])}
	if g.Recorded == nil && g.Candidate == nil && g.Baseline == nil {
		return nil
	}
	return g
}

func (p *slicePreds) accuracy() *GroupAccuracy {
	if p == nil {
		return nil
	}
	side := func(s *sliceSide) *SliceAccuracy {
		if s.Labeled == 0 {
			return nil
		}
		r := rate(s.Correct, s.Labeled)
		out := &SliceAccuracy{Count: s.Labeled, Correct: s.Correct, Rate: r.Rate, CI95Low: r.CI95Low, CI95High: r.CI95Hi}
		if s.LabelPos > 0 {
			out.TruePositiveRate = num(float64(s.TruePos) / float64(s.LabelPos))
		}
		return out
	}
	g := &GroupAccuracy{Recorded: side(&p.Sides[sideRecorded]), Candidate: side(&p.Sides[sideCandidate]),
		Baseline: side(&p.Sides[sideBaseline])}
	if g.Recorded == nil && g.Candidate == nil {
		return nil
	}
	if g.Recorded != nil && g.Candidate != nil {
		g.Delta = num(*g.Candidate.Rate - *g.Recorded.Rate)
	}
	return g
}

// Bias compares the groups of the first --by slice: how far apart their
// positive rates (and, with labels, true-positive rates) are on each side.
type Bias struct {
	By            string `json:"by"`
	PositiveClass string `json:"positive_class"`
	// MinGroup is the fewest instances a group needs to count; Excluded
	// lists the groups left out for having fewer.
	MinGroup  int64     `json:"min_group"`
	Excluded  []string  `json:"groups_excluded"`
	Recorded  *SideBias `json:"recorded"`
	Candidate *SideBias `json:"candidate"`
	Baseline  *SideBias `json:"baseline"`
	// Delta is candidate − recorded for each gap.
	Delta *BiasDelta `json:"delta"`
	// PositiveSeen says whether any side predicted the positive class, or
	// any label held it, in any group; Classes are the classes the sides
	// predicted, sorted (at most maxGroupClasses per group). A class that
	// was never seen is most likely a typo, which leaves every gap 0.
	PositiveSeen bool     `json:"-"`
	Classes      []string `json:"-"`
}

// SideBias are one side's gaps across groups (Fairlearn's
// demographic_parity_difference and equal_opportunity_difference, with
// the max − min aggregation).
type SideBias struct {
	// ParityGap is max − min positive rate across groups; ParityGroups
	// the groups with the highest and the lowest.
	ParityGap    *float64 `json:"parity_gap" gate:"unit"`
	ParityGroups []string `json:"parity_groups"`
	// OpportunityGap is max − min true-positive rate across the groups
	// with positive labels; OpportunityGroups those two groups.
	OpportunityGap    *float64 `json:"opportunity_gap" gate:"unit"`
	OpportunityGroups []string `json:"opportunity_groups"`
	// GroupsUsed is the number of groups compared.
	GroupsUsed int64 `json:"groups_used"`
}

// BiasDelta is candidate − recorded: positive when the candidate widens
// the gap.
type BiasDelta struct {
	ParityGap      *float64 `json:"parity_gap" gate:"signed"`
	OpportunityGap *float64 `json:"opportunity_gap" gate:"signed"`
}

// bias computes the gaps over the tracked groups (not the overflow one).
func (b *Builder) bias() *Bias {
	if b.groups == nil || b.opts.PositiveClass == "" {
		return nil
	}
	out := &Bias{By: b.sliceText(), PositiveClass: b.opts.PositiveClass, MinGroup: int64(b.opts.MinGroup), Excluded: []string{}}
	keys := make([]string, 0, len(b.groups))
	for k := range b.groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	classes := map[string]bool{}
	for _, c := range b.groups {
		if c.preds == nil {
			continue
		}
		for i := range c.preds.Sides {
			side := &c.preds.Sides[i]
			out.PositiveSeen = out.PositiveSeen || side.Positive > 0 || side.LabelPos > 0
			for k := range side.Classes {
				classes[k] = true
			}
		}
	}
	out.Classes = slices.Sorted(maps.Keys(classes))
	// A group's size is its instances (every side was sent the same), so
	// every side compares the same groups: a side that failed in a group
	// neither hides it nor makes it smaller.
	small := map[string]bool{}
	for _, k := range keys {
		c := b.groups[k]
		if c.preds == nil {
			continue
		}
		var size int64
		for i := range c.preds.Sides {
			size = max(size, c.preds.Sides[i].Instances)
		}
		if size < int64(b.opts.MinGroup) {
			small[k] = true
			out.Excluded = append(out.Excluded, k)
		}
	}
	found := false
	for s, dst := range []**SideBias{&out.Recorded, &out.Candidate, &out.Baseline} {
		var parity, opp extremes
		var used int64
		seen := false
		for _, k := range keys {
			c := b.groups[k]
			if c.preds == nil {
				continue
			}
			side := &c.preds.Sides[s]
			if side.Instances == 0 {
				continue // a side not in the run (no baseline)
			}
			seen = true
			if small[k] {
				continue
			}
			used++
			parity.add(k, float64(side.Positive)/float64(side.Instances))
			if side.LabelPos > 0 {
				opp.add(k, float64(side.TruePos)/float64(side.LabelPos))
			}
		}
		if !seen {
			continue
		}
		found = true
		sb := &SideBias{GroupsUsed: used}
		sb.ParityGap, sb.ParityGroups = parity.gap()
		sb.OpportunityGap, sb.OpportunityGroups = opp.gap()
		*dst = sb
	}
	if !found {
		return nil
	}
	if out.Recorded != nil && out.Candidate != nil {
		d := &BiasDelta{}
		if out.Recorded.ParityGap != nil && out.Candidate.ParityGap != nil {
			d.ParityGap = num(*out.Candidate.ParityGap - *out.Recorded.ParityGap)
		}
		if out.Recorded.OpportunityGap != nil && out.Candidate.OpportunityGap != nil {
			d.OpportunityGap = num(*out.Candidate.OpportunityGap - *out.Recorded.OpportunityGap)
		}
		out.Delta = d
	}
	return out
}

// extremes tracks the highest and lowest rate across groups.
type extremes struct {
	n            int
	hi, lo       float64
	hiKey, loKey string
}

func (x *extremes) add(key string, v float64) {
	if x.n == 0 || v > x.hi {
		x.hi, x.hiKey = v, key
	}
	if x.n == 0 || v <= x.lo {
		x.lo, x.loKey = v, key
	}
	x.n++
}

// gap is max − min with the groups that give them, null below two groups.
func (x *extremes) gap() (*float64, []string) {
	if x.n < 2 {
		return nil, []string{}
	}
	return num(x.hi - x.lo), []string{x.hiKey, x.loKey}
}

// sliceText names the slices of the groups.
func (b *Builder) sliceText() string {
	names := make([]string, len(b.slices))
	for i := range b.slices {
		names[i] = b.slices[i].text
	}
	return strings.Join(names, groupSep)
}

// Merging aggregations: every aggregator of a Builder has a merge(other)
// that leaves it as if it had also seen the other's rows after its own.

package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// OptionMismatchError is why two aggregations cannot be merged: an option
// that shapes them differs. It names the option by its Options field, never
// by a flag.
type OptionMismatchError struct {
	// Option is the Options field: Field, Ignore, AbsTol, RelTol, Top, By
	// or MaxGroups.
	Option string
	// Want is the value of the aggregation merged into, Got the other's.
	Want, Got string
	// File is the state file whose options differ; From is the state file
	// the wanted options came from, "" when they are the caller's Options.
	File, From string
}

func (e *OptionMismatchError) Error() string {
	from := "the options"
	if e.From != "" {
		from = e.From
	}
	return fmt.Sprintf("state %s: option %s is %s, but %s in %s", e.File, e.Option, e.Got, e.Want, from)
}

// aggregationOptions are the options that shape what a Builder counts, as
// (Options field, value) pairs; Progress is not one of them.
func aggregationOptions(o Options) [][2]string {
	quote := func(v []string) []string {
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = strconv.Quote(s)
		}
		return q
	}
	quoted := quote(o.Ignore)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	return [][2]string{
		{"Field", strconv.Quote(o.Field)},
		{"Ignore", "[" + strings.Join(quoted, " ") + "]"},
		{"AbsTol", f(o.AbsTol)},
		{"RelTol", f(o.RelTol)},
		{"Top", strconv.Itoa(o.Top)},
		{"By", strconv.Quote(o.By)},
		{"MaxGroups", strconv.Itoa(o.MaxGroups)},
		{"Text", o.Text.String()},
		{"ByAlso", "[" + strings.Join(quote(o.ByAlso), " ") + "]"},
		{"PositiveClass", strconv.Quote(o.PositiveClass)},
		{"MinGroup", strconv.Itoa(o.MinGroup)},
		{"Labels", strconv.FormatBool(o.Labels != nil)},
		{"LabelKey", strconv.Quote(o.LabelKey)},
	}
}

// checkSameOptions returns an *OptionMismatchError for the first option
// where a and b differ.
func checkSameOptions(a, b Options) *OptionMismatchError {
	x, y := aggregationOptions(a), aggregationOptions(b)
	for i := range x {
		if x[i][1] != y[i][1] {
			return &OptionMismatchError{Option: x[i][0], Want: x[i][1], Got: y[i][1]}
		}
	}
	return nil
}

// Merge adds the aggregation of o to b, as if b had also been fed o's rows
// after its own. Both must have been built with the same options (an
// *OptionMismatchError otherwise). o is left as it was.
//
// Every count comes out exactly as over all the rows; the percentiles too
// (an exact list, or the histogram, is a function of the values whatever
// their order). Sums of floats (MAE, RMSE, Pearson, mean cosine) are equal up
// to rounding, since float addition is not associative. Groups, transitions
// and labels past their caps (maxTrackedGroups, maxTransitions, maxLabels)
// are what a single pass over b's rows, then o's, would give, as long as
// neither part alone went past a cap: a part that did has already counted
// its late values into "(other)" and they stay there.
func (b *Builder) Merge(o *Builder) error {
	if e := checkSameOptions(b.opts, o.opts); e != nil {
		return e
	}
	if err := b.checkLabels(o); err != nil {
		return err
	}
	b.mergeParts(o)
	b.files = append(b.files, o.files...)
	b.partial = append(b.partial, o.partial...)
	return nil
}

func (t *tally) merge(o tally) { t.add(o.compared, o.agreed) }

func (e *errTally) merge(o *errTally) {
	e.n += o.n
	e.count += o.count
	for k, v := range o.byKind {
		if e.byKind == nil {
			e.byKind = map[string]int64{}
		}
		e.byKind[k] += v
	}
}

// merge maps o's labels to ids of s in the order o first saw them, which is
// the order a single pass would have met them in.
func (s *labelStats) merge(o *labelStats) {
	ids := make([]int, len(o.names))
	for i, name := range o.names {
		ids[i] = s.id(name)
	}
	for p, c := range o.pairs {
		s.pairs[[2]int{ids[p[0]], ids[p[1]]}] += c
	}
	s.n += o.n
}

// merge combines the co-moments of two parts (Chan, Golub and LeVeque,
// "Updating formulae and a pairwise algorithm for computing sample
// variances", 1979).
func (s *numericStats) merge(o *numericStats) {
	s.within += o.within
	s.nonFinite += o.nonFinite
	if o.n == 0 {
		return
	}
	if s.n == 0 {
		within, nonFinite := s.within, s.nonFinite
		*s = *o
		s.within, s.nonFinite = within, nonFinite
		return
	}
	na, nb := float64(s.n), float64(o.n)
	n := na + nb
	dA, dB := o.meanA-s.meanA, o.meanB-s.meanB
	s.meanA += dA * nb / n
	s.meanB += dB * nb / n
	s.m2A += o.m2A + dA*dA*na*nb/n
	s.m2B += o.m2B + dB*dB*na*nb/n
	s.cAB += o.cAB + dA*dB*na*nb/n
	s.sumAbs += o.sumAbs
	s.sumSq += o.sumSq
	s.max = math.Max(s.max, o.max)
	s.n += o.n
}

func (s *vectorStats) merge(o *vectorStats) {
	if o.cosN > 0 && (s.cosN == 0 || o.minCos < s.minCos) {
		s.minCos = o.minCos
	}
	s.n += o.n
	s.argmaxAgreed += o.argmaxAgreed
	s.cosN += o.cosN
	s.sumCos += o.sumCos
}

func (m *sideMetrics) merge(o *sideMetrics) {
	for k, v := range o.kinds {
		m.kinds[k] += v
	}
	m.labels.merge(o.labels)
	m.numeric.merge(&o.numeric)
	m.probs.merge(&o.probs)
	m.embed.merge(&o.embed)
	m.llm.merge(&o.llm)
	m.tokens.merge(&o.tokens)
}

// merge keeps the n worst of both. It is exact: the n worst of a union are
// among the n worst of each part, and worse is a total order (severity,
// then id), so which ones are kept does not depend on the order rows came in.
func (t *topN) merge(o *topN) {
	for _, e := range o.heap {
		t.push(e.d, e.sev)
	}
}

func mergeFields(to, from map[fieldKey]*FieldUse) {
	for k, f := range from {
		if g, ok := to[k]; ok {
			g.Requests += f.Requests
			continue
		}
		c := *f
		to[k] = &c
	}
}

// mergeGroups adds o's groups in the order o first saw them, so that the
// cap on tracked groups admits the same keys as one pass would.
func (b *Builder) mergeGroups(o *Builder) {
	if b.groups == nil || o.groups == nil {
		return
	}
	for _, k := range o.groupOrder {
		g, ok := b.groups[k]
		switch {
		case ok:
		case len(b.groups) >= maxTrackedGroups:
			g = b.overflow()
		default:
			g = b.newGroup(k)
		}
		g.merge(o.groups[k])
	}
	if o.overflw != nil {
		b.overflow().merge(o.overflw)
	}
}

// sortedKeys is the keys of m in order, for output that does not depend on
// map order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

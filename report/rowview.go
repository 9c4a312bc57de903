// One row's instances as each side predicted them, with their labels: what
// accuracy, shift and the slices count, beside the agreement.

package report

import "fmt"

// rowView is the instances of one compared row. It is reused from row to
// row; nothing in it outlives Add.
type rowView struct {
	n int
	// list: the predictions are lists of n instances; otherwise each side
	// predicted one value (n is 1).
	list  bool
	preds [3]any
	has   [3]bool
	// labels has one label per instance, or is nil without a label;
	// judged[s][i] is side s's instance i against it.
	labels []string
	judged [3][]judgment
	// text: the predictions are generated text, whose values are no
	// classes to count.
	text bool
}

// judge fills judged, once for accuracy and the groups.
func (v *rowView) judge(tol Tolerance) {
	for s := range 3 {
		v.judged[s] = v.judged[s][:0]
		if !v.has[s] {
			continue
		}
		for i, label := range v.labels {
			v.judged[s] = append(v.judged[s], judge(v.pred(s, i), label, tol))
		}
	}
}

// pred is side s's prediction of instance i (nil when it has none).
func (v *rowView) pred(s, i int) any {
	p := v.preds[s]
	if p == nil || !v.list {
		return p
	}
	return p.([]any)[i]
}

// sidePred is a side's prediction shaped as the recorded one, or nil when
// it failed or has another number of instances.
func sidePred(rec *recorded, out outcome) any {
	if out.failed != "" || out.side == nil {
		return nil
	}
	if want, ok := rec.pred.([]any); ok {
		got, ok := out.side.([]any)
		if !ok || len(got) != len(want) {
			return nil
		}
		return got
	}
	return out.side
}

// rowLabels looks up the labels of a row (marking its key used).
func (b *Builder) rowLabels(q *rowRequest) []string {
	if b.labels == nil {
		return nil
	}
	b.keyVal = b.keySel.values(q, b.keyVal[:0])
	if len(b.keyVal) == 0 || b.keyVal[0] == missingGroup {
		return nil
	}
	l, _ := b.labels.lookup(b.keyVal[0])
	return l
}

// observe feeds accuracy, shift and the groups' predictions with one
// compared row.
func (b *Builder) observe(r *rowRequest, rec *recorded, cand, base outcome, hasBase bool, labels []string, keys []string) {
	if !rec.json {
		return
	}
	v := &b.view
	judged := v.judged
	*v = rowView{n: 1, labels: labels, judged: judged, text: rec.proto == protoChat || rec.proto == protoCompletions}
	if list, ok := rec.pred.([]any); ok {
		v.n, v.list = len(list), true
	}
	v.preds[sideRecorded], v.has[sideRecorded] = rec.pred, true
	v.preds[sideCandidate], v.has[sideCandidate] = sidePred(rec, cand), true
	if hasBase {
		v.preds[sideBaseline], v.has[sideBaseline] = sidePred(rec, base), true
	}
	if labels != nil && len(labels) != v.n {
		if b.labelErr == nil {
			b.labelErr = fmt.Errorf("%w: exchange %s: the label of key %q has %d value(s), the answer %d instance(s)",
				ErrLabels, r.r.ID, b.keyVal[0], len(labels), v.n)
		}
		v.labels = nil
	}
	if v.labels != nil {
		v.judge(b.tol)
	}
	if b.truth != nil {
		b.truth.add(v)
	}
	// Generated text is no class: its shift is not counted.
	if !v.text {
		for i := range v.n {
			b.shift.add(0, v.pred(sideRecorded, i))
			b.shift.add(1, v.pred(sideCandidate, i))
		}
	}
	if b.groups == nil {
		return
	}
	for i := range v.n {
		key := missingGroup
		switch {
		case len(keys) == 1:
			key = keys[0]
		case len(keys) == v.n:
			key = keys[i]
		}
		c := b.group(key)
		c.preds.add(v, i, b.opts.PositiveClass)
	}
}

package report

import (
	"container/heap"
	"sort"
)

// severity orders disagreements: different answers before failures (an
// error or status), since failures are already counted by kind and status
// transition while a different prediction can only be seen here; then more
// differing instances, then a larger numeric difference.
type severity struct {
	class     int // 2: a different answer, 1: error or status
	instances int64
	magnitude float64
}

func (s severity) cmp(o severity) int {
	switch {
	case s.class != o.class:
		return cmpInt(int64(s.class), int64(o.class))
	case s.instances != o.instances:
		return cmpInt(s.instances, o.instances)
	case s.magnitude > o.magnitude:
		return 1
	case s.magnitude < o.magnitude:
		return -1
	}
	return 0
}

func cmpInt(a, b int64) int {
	if a > b {
		return 1
	}
	if a < b {
		return -1
	}
	return 0
}

// topN keeps the n worst disagreements in a min-heap, so memory is bounded
// by n. Among equally bad ones the smallest id wins, which keeps the
// report the same from run to run.
type topN struct {
	n    int
	heap entries
}

type entry struct {
	sev severity
	d   Disagreement
}

// worse tells whether a ranks above b.
func worse(a, b *entry) bool {
	if c := a.sev.cmp(b.sev); c != 0 {
		return c > 0
	}
	return a.d.ID < b.d.ID
}

type entries []*entry

func (h entries) Len() int           { return len(h) }
func (h entries) Less(i, j int) bool { return worse(h[j], h[i]) } // min-heap: least bad on top
func (h entries) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *entries) Push(x any)        { *h = append(*h, x.(*entry)) }
func (h *entries) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// wants tells, before the disagreement is rendered, whether it would be kept.
func (t *topN) wants(s severity, id string) bool {
	if len(t.heap) < t.n {
		return true
	}
	return worse(&entry{sev: s, d: Disagreement{ID: id}}, t.heap[0])
}

func (t *topN) push(d Disagreement, s severity) {
	e := &entry{sev: s, d: d}
	if len(t.heap) < t.n {
		heap.Push(&t.heap, e)
		return
	}
	if worse(e, t.heap[0]) {
		t.heap[0] = e
		heap.Fix(&t.heap, 0)
	}
}

// sorted returns the kept disagreements, worst first.
func (t *topN) sorted() []Disagreement {
	es := append(entries{}, t.heap...)
	sort.Slice(es, func(i, j int) bool { return worse(es[i], es[j]) })
	out := make([]Disagreement, len(es))
	for i, e := range es {
		out[i] = e.d
	}
	return out
}

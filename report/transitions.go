// Status transitions (recorded → candidate), bounded, in the order first
// seen so that merged states count them as one pass would.

package report

// maxTransitions bounds the distinct transitions counted; the ones first seen
// after that are counted as (otherClass, otherClass), which no real
// transition is (from and to always differ).
const maxTransitions = 100

// transitions counts status changes. order lists the keys in the order they
// were first seen: merging another part adds its new keys in its order, so
// that the cap admits the same keys as a single pass over both.
type transitions struct {
	counts map[[2]string]int64
	order  [][2]string
}

func newTransitions() transitions { return transitions{counts: map[[2]string]int64{}} }

func (t *transitions) add(key [2]string, n int64) {
	if _, ok := t.counts[key]; !ok {
		if len(t.counts) >= maxTransitions {
			key = [2]string{otherClass, otherClass}
		}
		if _, ok := t.counts[key]; !ok {
			t.order = append(t.order, key)
		}
	}
	t.counts[key] += n
}

func (t *transitions) merge(o *transitions) {
	for _, k := range o.order {
		t.add(k, o.counts[k])
	}
}

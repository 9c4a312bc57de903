package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/bits"
	"strconv"
)

// Accuracy in a report state. The counts of the truth merge by addition;
// what does not is which labels no exchange asked for, since one shard may
// match a label another did not. So a state with labels also carries one
// bit per label (set: some exchange of its rows asked for it) and a
// fingerprint of the label set (its keys in load order), and merging ORs
// the bits of states made with the same label files.

// ErrLabelSet is why states made with different label files do not merge.
var ErrLabelSet = errors.New("states made with different label files do not merge")

// ErrStateLabels is why rows are not reported together with states made
// with labels unless the labels are given: the rows would count as
// unlabeled.
var ErrStateLabels = errors.New("results files reported with states made with labels need the same labels")

// labelUse is which labels of a label set some exchange asked for.
type labelUse struct {
	Count       int64  `json:"count"`
	Fingerprint string `json:"fingerprint"`
	// Used has bit i%8 of byte i/8 set when label i (in load order) was
	// asked for.
	Used []byte `json:"used"`
}

func (u *labelUse) matched() int64 {
	var n int
	for _, b := range u.Used {
		n += bits.OnesCount8(b)
	}
	return int64(n)
}

func (u *labelUse) compatible(o *labelUse) error {
	if u.Count != o.Count || u.Fingerprint != o.Fingerprint {
		return fmt.Errorf("%w: %d labels (fingerprint %s) and %d labels (%s)", ErrLabelSet, u.Count, u.Fingerprint,
			o.Count, o.Fingerprint)
	}
	return nil
}

func (u *labelUse) or(o *labelUse) {
	for i := range u.Used {
		u.Used[i] |= o.Used[i]
	}
}

// use is the labelUse of l's keys as asked for so far.
func (l *Labels) use() *labelUse {
	h := fnv.New64a()
	u := &labelUse{Count: int64(len(l.entries)), Used: make([]byte, (len(l.entries)+7)/8)}
	for i := range l.entries {
		e := &l.entries[i]
		h.Write(l.arena[e.keyOff : e.keyOff+uint64(e.keyLen)])
		h.Write([]byte{0})
		if e.used {
			u.Used[i/8] |= 1 << (i % 8)
		}
	}
	u.Fingerprint = strconv.FormatUint(h.Sum64(), 16)
	return u
}

// markUsed marks the labels u has set, as if their exchanges had been read.
func (l *Labels) markUsed(u *labelUse) {
	for i := range l.entries {
		if u.Used[i/8]&(1<<(i%8)) != 0 && !l.entries[i].used {
			l.entries[i].used = true
			l.matched++
		}
	}
}

// currentLabelUse is b's label use: the label files it read, else what
// its states brought (nil without labels).
func (b *Builder) currentLabelUse() *labelUse {
	if b.labels != nil && len(b.labels.entries) > 0 {
		return b.labels.use()
	}
	return b.labelUse
}

// labelsUnmatched is the number of labels no exchange asked for.
func (b *Builder) labelsUnmatched() int64 {
	if u := b.currentLabelUse(); u != nil {
		return u.Count - u.matched()
	}
	return 0
}

// checkLabels tells whether o's labels can merge into b's.
func (b *Builder) checkLabels(o *Builder) error {
	mine, theirs := b.currentLabelUse(), o.currentLabelUse()
	if mine == nil || theirs == nil {
		return nil
	}
	return mine.compatible(theirs)
}

// mergeLabels merges o's truth and label use into b (checkLabels first).
func (b *Builder) mergeLabels(o *Builder) {
	if o.truth == nil {
		return
	}
	b.truth.merge(o.truth)
	theirs := o.currentLabelUse()
	switch {
	case theirs == nil:
	case b.labels != nil && len(b.labels.entries) > 0:
		b.labels.markUsed(theirs)
	case b.labelUse == nil:
		b.labelUse = &labelUse{Count: theirs.Count, Fingerprint: theirs.Fingerprint, Used: append([]byte(nil), theirs.Used...)}
	default:
		b.labelUse.or(theirs)
	}
}

// truthPart is the state's form of the accuracy against labels: an object
// of nulls without labels.
type truthPart struct{ b *Builder }

type truthJSON struct {
	Truth  *truthState `json:"truth"`
	Labels *labelUse   `json:"labels"`
}

func (p *truthPart) MarshalJSON() ([]byte, error) {
	if p.b.truth == nil {
		return json.Marshal(truthJSON{})
	}
	return json.Marshal(truthJSON{p.b.truth, p.b.currentLabelUse()})
}

func (p *truthPart) UnmarshalJSON(data []byte) error {
	var j truthJSON
	if err := strictJSON(data, &j); err != nil {
		return err
	}
	if p.b.truth == nil {
		if j.Truth != nil || j.Labels != nil {
			return errors.New("accuracy in a state made without labels")
		}
		return nil
	}
	if j.Truth == nil || j.Labels == nil {
		return errors.New("accuracy without its counts or its labels")
	}
	u := j.Labels
	if u.Count < 0 || int64(len(u.Used)) != (u.Count+7)/8 || u.Fingerprint == "" {
		return fmt.Errorf("labels: %d bytes for %d labels", len(u.Used), u.Count)
	}
	if u.Count%8 != 0 && len(u.Used) > 0 && u.Used[len(u.Used)-1]>>(u.Count%8) != 0 {
		return errors.New("labels: bits past the last label")
	}
	if err := j.Truth.check(); err != nil {
		return err
	}
	p.b.truth, p.b.labelUse = j.Truth, u
	return nil
}

// check refuses counts a merge of real aggregations cannot give.
func (t *truthState) check() error {
	if err := nonNegative(t.Labeled, t.Unlabeled, t.B, t.C, t.Paired); err != nil || t.B+t.C > t.Paired {
		return errors.New("accuracy: counts do not add up")
	}
	for _, s := range t.Sides {
		if err := nonNegative(s.N, s.Correct, s.NumN); err != nil || s.Correct > s.N || s.NumN > s.N {
			return errors.New("accuracy: counts do not add up")
		}
		for _, c := range s.Classes {
			if c == nil || nonNegative(c.TP, c.Pred, c.True) != nil || c.TP > c.Pred || c.TP > c.True {
				return errors.New("accuracy: class counts do not add up")
			}
		}
	}
	return nil
}

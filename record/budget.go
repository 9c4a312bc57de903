package record

import "sync/atomic"

// budget bounds the bytes of bodies that exchanges in flight hold in memory
// at once, so that many large uploads at the same time cannot take the
// recorder's memory: what it refuses streams through unrecorded.
type budget struct {
	left    atomic.Int64
	refused atomic.Int64 // bodies not kept whole because of the budget
}

func newBudget(n int64) *budget {
	b := &budget{}
	b.left.Store(n)
	return b
}

// take reserves n bytes; false when fewer are left.
func (b *budget) take(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	if b.left.Add(-n) >= 0 {
		return true
	}
	b.left.Add(n)
	b.refused.Add(1)
	return false
}

// give returns n reserved bytes.
func (b *budget) give(n int64) {
	if b != nil && n > 0 {
		b.left.Add(n)
	}
}

// kept is what an exchange keeps of one body: up to max bytes, each reserved
// from the budget before it is allocated. What the budget refuses is not
// kept, and the body is stored cut and flagged, as one over max is.
type kept struct {
	buf    []byte
	max    int64
	budget *budget
	held   int64 // bytes reserved: cap(buf)
}

// minGrow is the first allocation for a body of unknown length.
const minGrow = 32 << 10

// init starts keeping a body of size bytes (-1: unknown) up to max.
func (k *kept) init(b *budget, max, size int64) {
	k.budget, k.max = b, max
	if size > 0 && max > 0 {
		k.grow(min(size, max))
	}
}

// grow makes room for n bytes in all; false when the budget refuses, and
// then nothing more is kept.
func (k *kept) grow(n int64) bool {
	if n <= int64(cap(k.buf)) {
		return true
	}
	if !k.budget.take(n - k.held) {
		k.max = int64(len(k.buf))
		return false
	}
	k.held = n
	nb := make([]byte, len(k.buf), n)
	copy(nb, k.buf)
	k.buf = nb
	return true
}

// add keeps what fits of p.
func (k *kept) add(p []byte) {
	room := k.max - int64(len(k.buf))
	if room <= 0 {
		return
	}
	p = p[:min(int64(len(p)), room)]
	if need := int64(len(k.buf) + len(p)); need > int64(cap(k.buf)) {
		if !k.grow(min(k.max, max(need, 2*int64(cap(k.buf)), minGrow))) {
			return
		}
	}
	k.buf = append(k.buf, p...)
}

// release gives the reservation back: the bytes now belong to the row (the
// sink bounds the rows it queues) or to nobody.
func (k *kept) release() {
	k.budget.give(k.held)
	k.held = 0
}

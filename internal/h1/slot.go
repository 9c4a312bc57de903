package h1

import (
	"sync"
	"sync/atomic"
)

// Aborter lets one goroutine abort the connections that others are on: each
// of them holds its connection in a Slot of its own for as long as it uses
// it, and AbortAll aborts what the slots hold and what they are given from
// then on. It is how a stop of a whole run (the shadow's Close deadline,
// replay's abandonment) cuts its exchanges short without a callback
// registered per exchange on a shared context, which costs an allocation
// and a lock that every goroutine shares.
type Aborter struct {
	aborted atomic.Bool
	mu      sync.Mutex
	slots   []*Slot
}

// Slot holds the connection of one goroutine's exchange. Only that
// goroutine calls Hold and Release.
type Slot struct {
	a *Aborter
	c atomic.Pointer[Conn]
}

// NewSlot returns a slot whose connections AbortAll aborts.
func (a *Aborter) NewSlot() *Slot {
	s := &Slot{a: a}
	a.mu.Lock()
	a.slots = append(a.slots, s)
	a.mu.Unlock()
	return s
}

// AbortAll aborts every connection a slot holds, and those that slots are
// given from now on.
func (a *Aborter) AbortAll() {
	a.aborted.Store(true)
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.slots {
		if pc := s.c.Load(); pc != nil {
			pc.Abort()
		}
	}
}

// Hold puts pc in the slot, aborted at once when AbortAll came first:
// AbortAll marks before it looks at the slots, and Hold stores before it
// looks at the mark, so one of them sees the other.
func (s *Slot) Hold(pc *Conn) {
	s.c.Store(pc)
	if s.a.aborted.Load() {
		pc.Abort()
	}
}

// Release empties the slot and reports whether its connection may be
// reused: not once AbortAll has run, which may have aborted it.
func (s *Slot) Release() bool {
	s.c.Store(nil)
	return !s.a.aborted.Load()
}

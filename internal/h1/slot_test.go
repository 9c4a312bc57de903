package h1

import (
	"errors"
	"net"
	"net/url"
	"testing"
	"time"
)

// TestAborterAbortsSlotsBeforeAndAfter: AbortAll aborts the connection a
// request holds, and one a request takes after it (the request that was
// dialing as the run was abandoned) is aborted as it is held; neither goes
// back to the pool.
func TestAborterAbortsSlotsBeforeAndAfter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent: only an abort ends a read
		}
	}()
	c, err := NewClient(&url.URL{Scheme: "http", Host: ln.Addr().String()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	get := func() *Conn {
		pc, err := c.Get(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return pc
	}
	// blocked reports whether a read on pc is still waiting after 200 ms.
	blocked := func(pc *Conn) bool {
		done := make(chan error, 1)
		go func() { _, err := pc.Reader().Peek(1); done <- err }()
		select {
		case err := <-done:
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("the aborted read failed with %v, want a timeout", err)
			}
			return false
		case <-time.After(200 * time.Millisecond):
			pc.Abort()
			<-done
			return true
		}
	}
	a := &Aborter{}
	first, second := a.NewSlot(), a.NewSlot()
	held := get()
	first.Hold(held)
	a.AbortAll()
	if blocked(held) {
		t.Error("AbortAll left the held connection waiting")
	}
	late := get()
	second.Hold(late)
	if blocked(late) {
		t.Error("a connection held after AbortAll was left waiting")
	}
	if first.Release() || second.Release() {
		t.Error("release reported a connection reusable after the run was abandoned")
	}
	// Before any abandonment, a held connection is left alone and reusable.
	b := &Aborter{}
	fresh := b.NewSlot()
	pc := get()
	fresh.Hold(pc)
	if !blocked(pc) {
		t.Error("hold aborted a connection of a run not abandoned")
	}
	if !fresh.Release() {
		t.Error("release refused the connection of a run not abandoned")
	}
}

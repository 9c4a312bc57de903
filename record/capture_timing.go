package record

// The recorder's hooks into StreamTiming: each kept to one call on the
// proxy's path, so the proxy can change around them.

// timeAnswer starts the timing of a recorded or mirrored answer: its first
// byte, and each event of an event stream.
func (st *exchange) timeAnswer(eventStream bool) {
	if st.sampled || st.mirrored != nil {
		st.resp.tm.Start(eventStream)
	}
}

// observe notes body bytes p as they pass; the clock is read only when the
// timing needs it (the first bytes, and every read of a recorded stream).
func (b *respBody) observe(p []byte) {
	if b.tm.WantsClock() {
		b.tm.Observe(p, b.st.p.opts.Now().Sub(b.st.sent))
	}
}

// storeTiming puts the answer's timing in the row and gives back what the
// timing held.
func (st *exchange) storeTiming(x *Exchange) {
	t := st.resp.tm.Answer()
	x.ResponseFirstByteNs, x.ResponseEvents, x.ResponseEventNs = t.FirstByteNs, t.Events, t.EventNs
	st.resp.tm.Reset()
}

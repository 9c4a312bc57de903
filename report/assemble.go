// Assembling the Report from what a Builder counted.

package report

import "sort"

// Report returns the report of the rows added so far.
func (b *Builder) Report() *Report {
	r := &Report{
		SchemaVersion: SchemaVersion,
		Files:         append([]string{}, b.files...),
		PartialFiles:  append([]string{}, b.partial...),
		Settings: Settings{Field: b.opts.Field, Ignore: append([]string{}, b.opts.Ignore...),
			AbsTol: b.opts.AbsTol, RelTol: b.opts.RelTol, Top: b.opts.Top, By: b.opts.By},
		Exchanges:     b.all.exchanges,
		WithBaseline:  b.all.withBaseline,
		NotCompared:   b.all.notCompared,
		Groups:        []Group{},
		Disagreements: b.top.sorted(),
		Gates:         []GateResult{},
		Passed:        true,
	}
	r.Agreement = b.agreement(&b.candidate, b.all.req, b.all.inst)
	if b.all.withBaseline > 0 {
		base := b.agreement(&b.baseline, b.all.baseReq, b.all.baseInst)
		r.Agreement.Baseline = &base
	}
	r.Latency, r.Errors = b.all.latencyErrors()
	r.Tokens = b.tokens()
	r.LatencyCurve, r.Timeline = b.all.curve(), b.time.points()
	for k, n := range b.trans.counts {
		r.Errors.Transitions = append(r.Errors.Transitions, Transition{From: k[0], To: k[1], Count: n})
	}
	sort.Slice(r.Errors.Transitions, func(i, j int) bool {
		a, c := r.Errors.Transitions[i], r.Errors.Transitions[j]
		if a.Count != c.Count {
			return a.Count > c.Count
		}
		return a.From+"\x00"+a.To < c.From+"\x00"+c.To
	})
	r.Groups = b.groupReports()
	if b.truth != nil {
		r.Accuracy = b.truth.report(b.opts.LabelKey, b.labelsUnmatched(), b.opts.Top)
		r.Settings.LabelKey = b.opts.LabelKey
	}
	r.Shift = b.shift.report()
	if r.Bias = b.bias(); r.Bias != nil {
		r.Settings.PositiveClass, r.Settings.MinGroup = b.opts.PositiveClass, b.opts.MinGroup
	}
	r.Settings.ByAlso = append([]string(nil), b.opts.ByAlso...)
	return r
}

func summary(req, inst tally) AgreementSummary {
	s := AgreementSummary{Unit: "request", Requests: counts(req.agreed, req.compared),
		Instances: counts(inst.agreed, inst.compared)}
	head := s.Requests
	if inst.compared > 0 {
		s.Unit, head = "instance", s.Instances
	}
	s.Rate, s.CI95Low, s.CI95High = head.Rate, head.CI95Low, head.CI95High
	return s
}

func (b *Builder) agreement(m *sideMetrics, req, inst tally) Agreement {
	a := Agreement{AgreementSummary: summary(req, inst), Kinds: map[string]int64{}, Fields: []FieldUse{}}
	for _, f := range b.fields {
		a.Fields = append(a.Fields, *f)
	}
	sort.Slice(a.Fields, func(i, j int) bool {
		if a.Fields[i].Requests != a.Fields[j].Requests {
			return a.Fields[i].Requests > a.Fields[j].Requests
		}
		return a.Fields[i].Path < a.Fields[j].Path
	})
	if len(a.Fields) > 0 {
		a.Field, a.FieldSource = a.Fields[0].Path, a.Fields[0].Source
	}
	var best int64
	for k, n := range m.kinds {
		a.Kinds[k] = n
		if n > best || n == best && k < a.Kind {
			a.Kind, best = k, n
		}
	}
	a.Labels = m.labels.metrics(b.opts.Top)
	a.Numeric = m.numeric.metrics()
	if m.probs.n > 0 {
		mean, lo := m.probs.cos()
		a.Probabilities = &VectorMetrics{Count: m.probs.n, Argmax: rate(m.probs.argmaxAgreed, m.probs.n), MeanCosine: mean, MinCosine: lo}
	}
	a.Text, a.ToolCalls, a.FinishReason = m.llm.text(b.opts.Text), m.llm.toolCalls(), m.llm.finishReasons()
	if m.embed.n > 0 {
		mean, lo := m.embed.cos()
		a.Embeddings = &EmbeddingMetrics{Count: m.embed.n, MeanCosine: mean, MinCosine: lo}
	}
	return a
}

func (c *core) latencyErrors() (Latency, Errors) {
	l := Latency{Recorded: summarize(c.latRec), Candidate: summarize(c.latCand), Baseline: summarize(c.latBase),
		Delta: delta(c.delta)}
	l.TTFT, l.ITL = c.stream.summaries()
	if l.Baseline != nil {
		l.Ratio = ratio(l.Candidate, l.Baseline, "baseline")
	} else {
		l.Ratio = ratio(l.Candidate, l.Recorded, "recorded")
	}
	side := func(t errTally) *SideErrors {
		if t.n == 0 {
			return nil
		}
		r := rate(t.count, t.n)
		s := &SideErrors{Count: t.count, Of: t.n, Rate: r.Rate, CI95Low: r.CI95Low, CI95High: r.CI95Hi, ByKind: map[string]int64{}}
		for k, v := range t.byKind {
			s.ByKind[k] = v
		}
		return s
	}
	return l, Errors{Recorded: side(c.errRec), Candidate: side(c.errCand), Baseline: side(c.errBase)}
}

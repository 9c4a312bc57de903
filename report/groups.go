// Groups (Options.By): one core per value of a column, bounded, the rest
// merged into "(other)".

package report

import (
	"sort"
	"strconv"
	"strings"

	"github.com/shadowctl/shadowctl/replay"
)

// maxTrackedGroups bounds the groups aggregated separately; values seen
// after that go straight to the "(other)" group, so memory stays bounded
// whatever the column holds.
const maxTrackedGroups = 200

// otherGroup is the key of the group that collects the rest.
const otherGroup = "(other)"

// columnValue is the value of a results column, as a group name.
func columnValue(r *replay.Result, column string) string {
	switch column {
	case "path":
		return r.Path
	case "method":
		return r.Method
	case "recorded_status":
		return strconv.Itoa(int(r.RecordedStatus))
	case "candidate_status":
		return strconv.Itoa(int(r.CandidateStatus))
	case "candidate_error_kind":
		if key := candidateKind(r); key != "" {
			return key
		}
		return "(none)"
	}
	return ""
}

// group is the core of the group key, created on first sight.
func (b *Builder) group(key string) *core {
	if g, ok := b.groups[key]; ok {
		return g
	}
	if len(b.groups) >= maxTrackedGroups {
		return b.overflow()
	}
	return b.newGroup(strings.Clone(key))
}

func (b *Builder) overflow() *core {
	if b.overflw == nil {
		c := newCore()
		c.preds = &slicePreds{}
		b.overflw = &c
	}
	return b.overflw
}

func (b *Builder) newGroup(key string) *core {
	c := newCore()
	c.preds = &slicePreds{}
	key = strings.Clone(key) // it may alias a row's buffer
	b.groups[key] = &c
	b.groupOrder = append(b.groupOrder, key)
	return &c
}

func (c *core) merge(o *core) {
	c.exchanges += o.exchanges
	c.withBaseline += o.withBaseline
	c.notCompared.RecordedFailed += o.notCompared.RecordedFailed
	c.notCompared.RecordedTruncated += o.notCompared.RecordedTruncated
	c.req.merge(o.req)
	c.inst.merge(o.inst)
	c.baseReq.merge(o.baseReq)
	c.baseInst.merge(o.baseInst)
	c.latRec.Merge(o.latRec)
	c.latCand.Merge(o.latCand)
	c.latBase.Merge(o.latBase)
	c.delta.Merge(o.delta)
	c.errRec.merge(&o.errRec)
	c.errCand.merge(&o.errCand)
	c.errBase.merge(&o.errBase)
	c.stream.merge(&o.stream)
	if o.preds != nil {
		if c.preds == nil {
			c.preds = &slicePreds{}
		}
		c.preds.merge(o.preds)
	}
}

func (b *Builder) groupReports() []Group {
	if b.groups == nil {
		return []Group{}
	}
	type kv struct {
		key string
		c   *core
	}
	var all []kv
	for k, c := range b.groups {
		all = append(all, kv{k, c})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].c.exchanges != all[j].c.exchanges {
			return all[i].c.exchanges > all[j].c.exchanges
		}
		return all[i].key < all[j].key
	})
	if len(all) > b.opts.MaxGroups || b.overflw != nil {
		// A fresh core, so that calling Report twice merges nothing twice.
		rest := newCore()
		rest.preds = &slicePreds{}
		if b.overflw != nil {
			rest.merge(b.overflw)
		}
		for _, g := range all[min(len(all), b.opts.MaxGroups):] {
			rest.merge(g.c)
		}
		all = append(all[:min(len(all), b.opts.MaxGroups)], kv{otherGroup, &rest})
	}
	out := make([]Group, 0, len(all))
	for _, g := range all {
		gr := Group{Key: g.key, Exchanges: g.c.exchanges, NotCompared: g.c.notCompared,
			Agreement: summary(g.c.req, g.c.inst)}
		gr.Latency, gr.Errors = g.c.latencyErrors()
		gr.Predictions = g.c.preds.predictions(b.opts.PositiveClass)
		if b.truth != nil {
			gr.Accuracy = g.c.preds.accuracy()
		}
		out = append(out, gr)
	}
	return out
}

// The JSON forms of the Builder's keyed aggregators in a report state:
// transitions, field uses and groups, each in an order that does not
// depend on map order.

package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// transitions: [from, to, count] in the order first seen.
func (t *transitions) MarshalJSON() ([]byte, error) {
	out := make([][3]any, len(t.order))
	for i, k := range t.order {
		out[i] = [3]any{k[0], k[1], t.counts[k]}
	}
	return json.Marshal(out)
}

func (t *transitions) UnmarshalJSON(data []byte) error {
	var rows [][3]json.RawMessage
	if err := strictJSON(data, &rows); err != nil {
		return err
	}
	if len(rows) > maxTransitions+1 {
		return fmt.Errorf("%d transitions, more than %d", len(rows), maxTransitions+1)
	}
	*t = newTransitions()
	for _, r := range rows {
		var k [2]string
		var n int64
		if json.Unmarshal(r[0], &k[0]) != nil || json.Unmarshal(r[1], &k[1]) != nil || json.Unmarshal(r[2], &n) != nil {
			return errors.New("a transition is not [from, to, count]")
		}
		if _, dup := t.counts[k]; dup || n <= 0 {
			return fmt.Errorf("bad transition %v %d", k, n)
		}
		t.counts[k] = n
		t.order = append(t.order, k)
	}
	return nil
}

// fieldsPart is the FieldUse counts of a Builder, sorted by path and source.
type fieldsPart struct{ m map[fieldKey]*FieldUse }

func (p *fieldsPart) MarshalJSON() ([]byte, error) {
	out := make([]FieldUse, 0, len(p.m))
	for _, f := range p.m {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b FieldUse) int {
		if a.Path != b.Path {
			return cmpStr(a.Path, b.Path)
		}
		return cmpStr(a.Source, b.Source)
	})
	return json.Marshal(out)
}

func (p *fieldsPart) UnmarshalJSON(data []byte) error {
	var fs []FieldUse
	if err := strictJSON(data, &fs); err != nil {
		return err
	}
	clear(p.m)
	for _, f := range fs {
		k := fieldKey{f.Path, f.Source}
		if _, dup := p.m[k]; dup || f.Requests <= 0 {
			return fmt.Errorf("bad field use %+v", f)
		}
		p.m[k] = &f
	}
	return nil
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// groupsPart is the groups of a Builder (Options.By): the tracked ones in
// the order first seen, and the overflow. Null without By.
type groupsPart struct{ b *Builder }

type groupJSON struct {
	Key    string `json:"key"`
	Counts *core  `json:"counts"`
}

type groupsJSON struct {
	Tracked []groupJSON `json:"tracked"`
	Other   *core       `json:"other"`
}

func (p *groupsPart) MarshalJSON() ([]byte, error) {
	b := p.b
	if b.groups == nil {
		return []byte("{}"), nil
	}
	j := groupsJSON{Tracked: make([]groupJSON, len(b.groupOrder)), Other: b.overflw}
	for i, k := range b.groupOrder {
		j.Tracked[i] = groupJSON{k, b.groups[k]}
	}
	return json.Marshal(j)
}

func (p *groupsPart) UnmarshalJSON(data []byte) error {
	var j groupsJSON
	if err := strictJSON(data, &j); err != nil {
		return err
	}
	b := p.b
	if b.groups == nil {
		if j.Tracked != nil || j.Other != nil {
			return errors.New("groups without a group-by column")
		}
		return nil
	}
	if j.Tracked == nil {
		return errors.New("no groups with a group-by column")
	}
	if len(j.Tracked) > maxTrackedGroups {
		return fmt.Errorf("%d groups, more than %d", len(j.Tracked), maxTrackedGroups)
	}
	for _, g := range j.Tracked {
		if _, dup := b.groups[g.Key]; dup || g.Counts == nil {
			return fmt.Errorf("bad group %q", g.Key)
		}
		*b.newGroup(g.Key) = *g.Counts
	}
	b.overflw = j.Other
	if b.overflw != nil && b.overflw.preds == nil {
		b.overflw.preds = &slicePreds{} // every group counts predictions
	}
	for _, c := range b.groups {
		if c.preds == nil {
			c.preds = &slicePreds{}
		}
	}
	return nil
}

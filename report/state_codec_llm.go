package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// The state's forms of the LLM aggregators (llm.go, stream.go) and of the
// timeline (timeline.go).

type tokenJSON struct {
	Completion quantiles `json:"completion"`
	PerSecond  quantiles `json:"per_second"`
	FromUsage  *int64    `json:"from_usage"`
	FromEvents *int64    `json:"from_events"`
}

func (t *tokenStats) fields() *tokenJSON {
	return &tokenJSON{t.completion, t.perSecond, &t.fromUsage, &t.fromEvents}
}

func (t *tokenStats) MarshalJSON() ([]byte, error) { return json.Marshal(t.fields()) }

func (t *tokenStats) UnmarshalJSON(data []byte) error {
	*t = newTokenStats()
	j := t.fields()
	if err := strictJSON(data, j); err != nil {
		return err
	}
	if j.Completion == nil || j.PerSecond == nil {
		return errors.New("a token histogram is null")
	}
	if err := nonNegative(t.fromUsage, t.fromEvents); err != nil || t.fromUsage+t.fromEvents != t.completion.Count() {
		return fmt.Errorf("tokens: %d from usage and %d from events for %d answers", t.fromUsage, t.fromEvents, t.completion.Count())
	}
	return nil
}

// check refuses counts a merge of real aggregations cannot give.
func (s *llmStats) check() error {
	if err := nonNegative(s.Text, s.Exact, s.Normalized, s.Agreed, s.JSON, s.JSONAgreed, s.Calls, s.CallCounts,
		s.Names, s.Args, s.Finish); err != nil {
		return err
	}
	if s.Exact > s.Text || s.Normalized > s.Text || s.Agreed > s.Text || s.JSONAgreed > s.JSON ||
		s.Names > s.Calls || s.Args > s.Calls {
		return errors.New("text metrics do not add up")
	}
	for _, d := range []*simDist{&s.TokenF1, &s.RougeL, &s.Edit} {
		var n int64
		for _, v := range d.Bins {
			if v <= 0 {
				return errNegative
			}
			n += v
		}
		if n != d.N {
			return fmt.Errorf("a similarity distribution holds %d of %d values", n, d.N)
		}
	}
	for _, v := range s.FinishChanged {
		if v <= 0 {
			return errNegative
		}
	}
	return nil
}

// timelinePart is the state's form of the timeline (timeline.go): its own
// JSON, checked so that a damaged state can neither panic a merge nor make
// it allocate without bound.
type timelinePart struct{ t *timeline }

func (p timelinePart) MarshalJSON() ([]byte, error) { return json.Marshal(p.t) }

func (p *timelinePart) UnmarshalJSON(data []byte) error {
	*p.t = timeline{}
	if err := strictJSON(data, p.t); err != nil {
		return err
	}
	return p.t.check()
}

// maxCoarseIndex bounds a coarse histogram's bucket indexes: float64
// magnitudes span about ±71,000 buckets of 1%.
const maxCoarseIndex = 100_000

func (t *timeline) check() error {
	if t.Level < 0 || t.Level > len(intervalWidths)+32 || len(t.Intervals) > maxIntervals {
		return fmt.Errorf("timeline: level %d, %d intervals", t.Level, len(t.Intervals))
	}
	lim := math.MaxInt64 / intervalWidth(t.Level)
	for k, iv := range t.Intervals {
		if iv == nil || k > lim || k < -lim {
			return fmt.Errorf("timeline: interval %d", k)
		}
		for _, s := range iv.Sides {
			h := &s.Latency
			var sum int64
			for _, c := range h.Counts {
				if c < 0 {
					return errNegative
				}
				sum += c
			}
			if err := nonNegative(s.Rows, s.Errors, h.N, h.Zero); err != nil || s.Errors > s.Rows || h.N > s.Rows ||
				sum+h.Zero != h.N || h.Off < -maxCoarseIndex || h.Off+len(h.Counts) > maxCoarseIndex ||
				h.Min > h.Max || h.Min < 0 {
				return fmt.Errorf("timeline: interval %d does not add up", k)
			}
		}
	}
	return nil
}

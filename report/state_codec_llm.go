package report

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The state's forms of the LLM aggregators (llm.go, stream.go).

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

package report

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The state's forms of the prediction shift (shift.go) and of the groups'
// predictions (slices.go). Accuracy against labels: state_labels.go.

// shiftPart wraps shiftState for its JSON form: the small-integer counts
// are folded into Classes first.
type shiftPart struct{ s *shiftState }

func (p *shiftPart) MarshalJSON() ([]byte, error) {
	p.s.flush()
	return json.Marshal(p.s)
}

func (p *shiftPart) UnmarshalJSON(data []byte) error {
	*p.s = newShiftState()
	if err := strictJSON(data, p.s); err != nil {
		return err
	}
	for i := range p.s.Classes {
		if p.s.Classes[i] == nil {
			p.s.Classes[i] = map[string]int64{}
		}
		if len(p.s.Classes[i]) > maxLabels+1 {
			return fmt.Errorf("shift: %d classes", len(p.s.Classes[i]))
		}
		for _, v := range p.s.Classes[i] {
			if v <= 0 {
				return errNegative
			}
		}
		if err := p.s.Scores[i].check(); err != nil {
			return err
		}
	}
	return nil
}

func (s *sketch) check() error {
	sum := s.Zero
	for _, m := range []map[int]int64{s.Pos, s.Neg} {
		for _, v := range m {
			if v <= 0 {
				return errNegative
			}
			sum += v
		}
	}
	if s.Zero < 0 || sum != s.N {
		return fmt.Errorf("shift: a score sketch holds %d of %d values", sum, s.N)
	}
	return nil
}

func (p *slicePreds) check() error {
	for _, s := range p.Sides {
		var n int64
		for _, v := range s.Classes {
			if v <= 0 {
				return errNegative
			}
			n += v
		}
		if len(s.Order) != len(s.Classes) {
			return errors.New("a group's classes are not in order")
		}
		for _, k := range s.Order {
			if _, ok := s.Classes[k]; !ok {
				return errors.New("a group's classes are not in order")
			}
		}
		if err := nonNegative(s.Instances, s.N, s.Positive, s.Labeled, s.Correct, s.LabelPos, s.TruePos); err != nil ||
			s.Positive > s.N || n > s.N || s.Correct > s.Labeled || s.LabelPos > s.Labeled || s.TruePos > s.LabelPos {
			return errors.New("a group's predictions do not add up")
		}
	}
	return nil
}

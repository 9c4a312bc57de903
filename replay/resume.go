package replay

import "sort"

// IDSet is a set of exchange ids, compact enough for millions: a sorted
// slice, no map overhead. A resumed run skips the ids of the rows already in
// its results file (Output.Done, given as Options.Skip).
type IDSet struct{ ids []string }

// NewIDSet builds a set from ids (it keeps and sorts the slice).
func NewIDSet(ids []string) *IDSet {
	sort.Strings(ids)
	return &IDSet{ids: ids}
}

// Has tells whether id is in the set.
func (s *IDSet) Has(id string) bool {
	if s == nil {
		return false
	}
	i := sort.SearchStrings(s.ids, id)
	return i < len(s.ids) && s.ids[i] == id
}

// Len is the number of ids.
func (s *IDSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.ids)
}

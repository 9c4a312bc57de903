// One row's agreement alone, as a Report counts it, for the live shadow.

package report

import (
	"bytes"

	"github.com/shadowctl/shadowctl/replay"
)

// Comparator tells, row by row, whether the candidate agrees with the
// recorded answer exactly as a Report's request agreement counts it (the
// same comparator, protocol detection, tolerances and ignored paths), but
// aggregates nothing else: the live shadow needs the verdict of each row,
// not latencies, error classes or instance metrics, and pays for none of
// them. A Comparator is not safe for concurrent use; make one per worker.
type Comparator struct {
	b    *Builder
	side sideMetrics // compare feeds it; never read
}

// NewComparator checks opts as NewBuilder does.
func NewComparator(opts Options) (*Comparator, error) {
	b, err := NewBuilder(opts)
	if err != nil {
		return nil, err
	}
	return &Comparator{b: b, side: newSideMetrics()}, nil
}

// Compare reports whether r is compared (production answered 2xx with a
// whole body, as Agreement.Requests.Compared counts) and, if so, whether
// the candidate agrees (Agreement.Requests.Agreed).
func (c *Comparator) Compare(r *replay.Result) (compared, agreed bool) {
	if r.RecordedError != "" || r.RecordedStatus < 200 || r.RecordedStatus > 299 || r.RecordedBodyTruncated {
		return false, false
	}
	// As Builder.Add: event streams as the messages they reassemble into,
	// and a cut recorded stream is not compared.
	recBody, _, recKind := asCompared(r.RecordedBody, recordedKind(r))
	if recKind != "" {
		return false, false
	}
	candBody, _, kind := asCompared(r.CandidateBody, candidateKind(r))
	if kind != "" || r.CandidateStatus < 200 || r.CandidateStatus > 299 {
		return true, false
	}
	if bytes.Equal(recBody, candBody) {
		// The same bytes decode to the same tree, and the comparator is
		// reflexive (Tolerance.Equal(x, x) for every number, NaN and
		// infinities included): compare would agree, so the bodies need
		// not be decoded.
		return true, true
	}
	rec := c.b.prepareRecorded(recBody)
	// b.fields (the field use a Report lists) takes one entry per
	// distinct path and source: bounded like a Report's.
	agreed = c.b.compare(&rec, r.CandidateStatus, kind, candBody, &c.side).agreed
	if len(c.side.labels.pairs) > maxScratchPairs {
		c.side = newSideMetrics() // never read: keep it small
	}
	return true, agreed
}

// maxScratchPairs bounds the label pairs a Comparator's unread metrics
// keep (a Report's may grow to maxLabels squared).
const maxScratchPairs = 1024

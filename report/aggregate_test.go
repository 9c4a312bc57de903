package report

import (
	"errors"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/replay"
)

// TestErrorKinds pins the error kind of each side of a row, replay.Classify's
// for a status, with the cases report adds: no recorded answer, a side with
// an error text but no kind, and a side with neither answer nor error.
func TestErrorKinds(t *testing.T) {
	cases := []struct {
		name   string
		row    replay.Result
		rec    string
		cand   string
		base   string // with BaselineStatus = CandidateStatus, same error
		noBase bool
	}{
		{"both 200", replay.Result{RecordedStatus: 200, CandidateStatus: 200}, "", "", "", false},
		{"1xx and 3xx answered", replay.Result{RecordedStatus: 304, CandidateStatus: 101}, "", "", "", false},
		{"4xx", replay.Result{RecordedStatus: 404, CandidateStatus: 499}, replay.KindHTTP4xx, replay.KindHTTP4xx, replay.KindHTTP4xx, false},
		{"5xx", replay.Result{RecordedStatus: 500, CandidateStatus: 599}, replay.KindHTTP5xx, replay.KindHTTP5xx, replay.KindHTTP5xx, false},
		{"production had no answer", replay.Result{RecordedStatus: 0, CandidateStatus: 200}, replay.KindNoResponse, "", "", false},
		{"production errored after a status", replay.Result{RecordedStatus: 200, RecordedError: "reset", CandidateStatus: 200},
			replay.KindNoResponse, "", "", false},
		{"status 0 without an error", replay.Result{RecordedStatus: 200, CandidateStatus: 0}, "", replay.KindOther, replay.KindOther, false},
		{"an error without a kind", replay.Result{RecordedStatus: 200, CandidateStatus: 200, CandidateError: "boom"},
			"", replay.KindOther, replay.KindOther, false},
		{"the recorded kind wins over the status", replay.Result{RecordedStatus: 200, CandidateStatus: 503,
			CandidateError: "timeout", CandidateErrorKind: replay.KindTimeout}, "", replay.KindTimeout, replay.KindTimeout, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.row
			r.BaselineStatus = ptr(r.CandidateStatus)
			r.BaselineError, r.BaselineErrorKind = ptr(r.CandidateError), ptr(r.CandidateErrorKind)
			if got := recordedKind(&r); got != c.rec {
				t.Errorf("recorded kind %q, want %q", got, c.rec)
			}
			if got := candidateKind(&r); got != c.cand {
				t.Errorf("candidate kind %q, want %q", got, c.cand)
			}
			if got := baselineKind(&r); got != c.base {
				t.Errorf("baseline kind %q, want %q", got, c.base)
			}
		})
	}
}

// TestNewBuilderOptionErrors: a bad option is an OptionError that names the
// Options field and the value, never a flag, and whose cause is the rest of
// the message a command words ("--by %q: %w").
func TestNewBuilderOptionErrors(t *testing.T) {
	cases := []struct {
		name   string
		opts   Options
		option string
		value  string
		is     error  // a sentinel the error wraps, or nil
		cause  string // the cause's text, "" for any
	}{
		{"a bad ignore path", Options{Ignore: []string{"$.ok", "$.["}}, "Ignore", "$.[", nil, ""},
		{"a bad field", Options{Field: "predictions["}, "Field", "predictions[", nil, ""},
		{"ignore is checked before field", Options{Field: "$.[", Ignore: []string{"x["}}, "Ignore", "x[", nil, ""},
		{"an unknown column", Options{By: "color"}, "By", "color", ErrUnknownColumn,
			"want one of path, method, recorded_status, candidate_status, candidate_error_kind, header:NAME or request:JSONPATH"},
		{"a bad request path", Options{By: "request:$.["}, "By", "request:$.[", nil, ""},
		{"an empty header", Options{By: "method", ByAlso: []string{"header:"}}, "ByAlso", "header:", nil, ""},
		{"also without by", Options{ByAlso: []string{"method"}}, "ByAlso", "method", nil, ""},
		{"a bad label key", Options{Labels: &Labels{}, LabelKey: "method"}, "LabelKey", "method", nil, "want id, header:NAME or request:JSONPATH"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewBuilder(c.opts)
			var oe *OptionError
			if !errors.As(err, &oe) {
				t.Fatalf("error %v (%T), want an *OptionError", err, err)
			}
			if oe.Option != c.option || oe.Value != c.value || oe.Err == nil {
				t.Errorf("option %q value %q cause %v, want %q %q", oe.Option, oe.Value, oe.Err, c.option, c.value)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v does not wrap %v", err, c.is)
			}
			if c.cause != "" && oe.Err.Error() != c.cause {
				t.Errorf("cause %q, want %q", oe.Err, c.cause)
			}
			msg := err.Error()
			if want := "option " + c.option + ` "` + c.value + `": ` + oe.Err.Error(); msg != want {
				t.Errorf("error %q, want %q", msg, want)
			}
			if strings.Contains(msg, "--") {
				t.Errorf("error %q names a flag", msg)
			}
		})
	}
}

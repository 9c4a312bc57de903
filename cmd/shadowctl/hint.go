package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
)

// kindHint adds the step a user missed when a command was given the other
// kind of shadowctl file: report and a recording (replay it first), inspect
// or replay and a results file (report it). Other errors pass unchanged,
// and the exit code stays what err's would be.
func kindHint(err error) error {
	var se *parquetfile.SchemaError
	if !errors.As(err, &se) {
		return err
	}
	gotRecording := strings.HasPrefix(se.Schema, "shadowctl.recording/")
	gotResults := strings.HasPrefix(se.Schema, "shadowctl.results/")
	wantResults := len(se.Want) > 0 && strings.HasPrefix(se.Want[0], "shadowctl.results/")
	var hint string
	switch {
	case gotRecording && wantResults:
		hint = "it is a recording: replay it first ('shadowctl replay --target URL " + se.Path + "'), then report the results file"
	case gotResults && !wantResults:
		hint = "it is a results file: 'shadowctl report " + se.Path + "' reads it"
	default:
		return err
	}
	return hinted{err, hint}
}

// hinted is err with a hint after it; errors.As and errors.Is see err.
type hinted struct {
	err  error
	hint string
}

func (h hinted) Error() string { return fmt.Sprintf("%v; %s", h.err, h.hint) }
func (h hinted) Unwrap() error { return h.err }

package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
)

// kindHint adds the step a user missed when a command was given the other
// kind of shadowctl file: report and a recording (replay it first), inspect
// or replay and a results file (report it); for a recording a folder
// turned up (inFolder), what to give instead. Other errors pass unchanged,
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
		var in inFolder
		switch {
		case !errors.As(err, &in):
			hint = "it is a recording: replay it first ('shadowctl replay --target URL " + se.Path + "'), then report the results file"
		case in.results != "":
			hint = "it is a recording (replay it first), and " + in.folder + " holds recordings as well as results: give the results file or folder itself, e.g. " + in.results
		default:
			hint = "it is a recording, and " + in.folder + " holds no results file: replay it first ('shadowctl replay --target URL " + in.folder + "'), then report the results file"
		}
	case gotResults && !wantResults:
		hint = "it is a results file: 'shadowctl report " + se.Path + "' reads it"
	default:
		return err
	}
	return hinted{err, hint}
}

// inFolder is err of a file that a folder named on the command line turned
// up, rather than an argument naming it: kindHint then says what else the
// folder holds and what to give instead of it.
type inFolder struct {
	err     error
	folder  string // as it was given
	results string // a results file below folder; "" when it holds none
}

func (f inFolder) Error() string { return f.err.Error() }
func (f inFolder) Unwrap() error { return f.err }

// hinted is err with a hint after it; errors.As and errors.Is see err.
type hinted struct {
	err  error
	hint string
}

func (h hinted) Error() string { return fmt.Sprintf("%v; %s", h.err, h.hint) }
func (h hinted) Unwrap() error { return h.err }

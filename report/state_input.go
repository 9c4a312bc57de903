// Report states among the inputs of Build: found by their content, read
// before any row, and checked against the options of the report.

package report

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
)

// inputState is a report state read from a file.
type inputState struct {
	path string
	b    *Builder
}

// isStateFile tells whether the file at path holds a report state rather
// than results: results are Parquet (which starts with "PAR1"), a state is
// JSON (which starts with "{", after any white space) or gzip. Anything but
// a regular file is left unopened (opening a named pipe waits for a writer,
// forever), and, like a file that cannot be opened, left to the results
// reader, whose error names it.
func isStateFile(path string) bool {
	if info, err := os.Stat(path); err != nil || !info.Mode().IsRegular() {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 512)
	if magic, _ := r.Peek(2); bytes.Equal(magic, gzipMagic) {
		return true
	}
	for {
		c, err := r.ReadByte()
		if err != nil {
			return false
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c == '{'
	}
}

// readStates splits files into results files and report states, and reads
// the states.
func readStates(files []string) (results []string, states []inputState, err error) {
	for _, path := range files {
		if !isStateFile(path) {
			results = append(results, path)
			continue
		}
		b, err := readStateFile(path)
		if err != nil {
			return nil, nil, err
		}
		states = append(states, inputState{path, b})
	}
	return results, states, nil
}

func readStateFile(path string) (*Builder, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := ReadState(f)
	if errors.Is(err, ErrJSONReport) {
		return nil, fmt.Errorf("%s is %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	return b, nil
}

// newMergingBuilder returns the Builder that states merge into: with opts,
// or with the options of the first state when opts.FromStates, after
// checking that every state was made with the same options.
func newMergingBuilder(opts Options, states []inputState, rows bool) (*Builder, error) {
	from := ""
	if opts.FromStates && len(states) > 0 {
		// Every option that shapes the aggregation is the state's: the
		// whole Options, but what is this run's own.
		s := states[0].b.opts
		s.Progress, s.FromStates = opts.Progress, opts.FromStates
		if s.Labels != nil {
			if rows {
				return nil, ErrStateLabels
			}
			s.Labels = &Labels{} // the states bring which were asked for
		}
		opts, from = s, states[0].path
	}
	b, err := NewBuilder(opts)
	if err != nil {
		return nil, err
	}
	for _, s := range states {
		if e := checkSameOptions(b.opts, s.b.opts); e != nil {
			e.File, e.From = s.path, from
			return nil, e
		}
		if err := b.checkLabels(s.b); err != nil {
			return nil, fmt.Errorf("state %s: %w", s.path, err)
		}
	}
	return b, nil
}

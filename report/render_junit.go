package report

import (
	"encoding/xml"
	"fmt"
	"io"

	"github.com/shadowctl/shadowctl/internal/safetext"
)

// WriteJUnit writes JUnit XML for CI systems that show test results: one
// test case per gate (per gate and group with --by), failed when the gate
// failed. Without gates there is one case, "report", that always passes, so
// the suite is never empty.
func (r *Report) WriteJUnit(w io.Writer) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		SystemOut string   `xml:"system-out,omitempty"`
	}
	type testsuite struct {
		XMLName  xml.Name   `xml:"testsuite"`
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Errors   int        `xml:"errors,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	s := testsuite{Name: "shadowctl report"}
	summary := fmt.Sprintf("exchanges %d, agreement %s per %s [95%% CI %s, %s]",
		r.Exchanges, pct(r.Agreement.Rate), r.Agreement.Unit, pct(r.Agreement.CI95Low), pct(r.Agreement.CI95High)) + llmSummary(r)
	if t := truthSummary(r); t != "" {
		summary += "; " + t
	}
	for _, g := range r.Gates {
		c := testcase{Name: g.Expr, Classname: "shadowctl.gates", SystemOut: g.Message}
		if g.Group != "" {
			c.Name = g.Expr + " [" + r.Settings.slices() + "=" + safetext.Clip(g.Group, maxCell) + "]"
			c.Classname = "shadowctl.gates." + r.Settings.By
		}
		if !g.Passed {
			c.Failure = &failure{Message: g.Message, Type: "gate", Text: summary}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
	}
	if len(s.Cases) == 0 {
		s.Cases = append(s.Cases, testcase{Name: "report", Classname: "shadowctl", SystemOut: summary})
	}
	s.Tests = len(s.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	return nil
}

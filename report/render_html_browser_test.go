package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/browser"
	"github.com/shadowctl/shadowctl/replay"
)

// TestHTMLInBrowser opens the golden fixture's page and a page with hostile
// bodies in headless Chromium, kept off the network: no console error, no
// request, no dialog; every chart laid out; a full-page screenshot and a
// printout. It skips without Chromium unless CI is set.
// SHADOWCTL_SCREENSHOTS=DIR keeps the screenshots there.
func TestHTMLInBrowser(t *testing.T) {
	exe := browser.Require(t)
	hostile := buildRows(t, Options{By: "path"}, []replay.Result{
		row(`<script>alert(1)</script>`, `/p"><img src=x onerror=alert(2)>`,
			side{status: 200, body: `{"predictions":["</style><script>alert(3)</script>"]}`, lat: 1},
			side{status: 200, body: "<script>alert(4)</script>\xff", lat: 2}, nil),
	})
	dir := t.TempDir()
	if d := os.Getenv("SHADOWCTL_SCREENSHOTS"); d != "" {
		dir = d
	}
	for _, c := range []struct {
		name   string
		r      *Report
		charts int
	}{
		// percentiles, delta, latency and errors over time, confusion,
		// groups, errors by kind, transitions.
		{"fixture", goldenReport(t), 8},
		// no baseline (no delta), no labels (no confusion matrix), no errors
		// and no transitions.
		{"hostile", hostile, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := c.r.WriteHTML(&buf); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "report.html")
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			v, err := browser.Open(context.Background(), exe, path, 90*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Errors) > 0 || len(v.Requests) > 0 || len(v.Dialogs) > 0 {
				t.Errorf("console errors %q, requests %q, dialogs %q: want none", v.Errors, v.Requests, v.Dialogs)
			}
			if v.SVGs != c.charts {
				t.Errorf("%d charts laid out, want %d", v.SVGs, c.charts)
			}
			img, err := png.DecodeConfig(bytes.NewReader(v.Screenshot))
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			// The whole page, not the window: as tall as the page.
			if img.Height < v.Height || v.Height < 2000 {
				t.Errorf("screenshot %dx%d of a page %d px tall", img.Width, img.Height, v.Height)
			}
			if !bytes.HasPrefix(v.PDF, []byte("%PDF-")) {
				t.Errorf("the printout is not a PDF: %q", v.PDF[:min(len(v.PDF), 16)])
			}
			shot := filepath.Join(dir, "report-"+c.name+".png")
			if err := os.WriteFile(shot, v.Screenshot, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(strings.TrimSuffix(shot, ".png")+".pdf", v.PDF, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %dx%d screenshot, %d-byte PDF", shot, img.Width, img.Height, len(v.PDF))
		})
	}
}

// Package browser opens a local page in headless Chromium, kept off the
// network, and reports what a reader's browser would do with it: console
// errors, requests, dialogs, a full-page screenshot and a printout. Tests use
// it to check the HTML report in a real browser; nothing in the product
// imports it.
package browser

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// names are the executables tried, Debian's first.
var names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Find returns the path of a Chromium, or "" when there is none.
func Find() string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// Require returns the Chromium to test with. Without one it skips the test,
// unless the CI variable is set: in CI the browser test must run, so a
// missing browser fails it.
func Require(t testing.TB) string {
	t.Helper()
	exe, ok := Lookup(t)
	if !ok {
		t.Skipf("no Chromium (tried %v): skipping the browser test (apt-get install chromium runs it)", names)
	}
	return exe
}

// Lookup is Require for a test that has more to check than the browser
// part: without a Chromium (and without CI) it logs and returns false
// rather than skipping the whole test.
func Lookup(t testing.TB) (string, bool) {
	t.Helper()
	if exe := Find(); exe != "" {
		return exe, true
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no Chromium (tried %v) and CI=%q: .ci/run installs Debian's chromium; the browser test must run in CI", names, os.Getenv("CI"))
	}
	t.Logf("no Chromium (tried %v): the page is not opened in a browser", names)
	return "", false
}

// Visit is what happened when a page was opened.
type Visit struct {
	// Errors are console errors, uncaught exceptions and error-level log
	// entries.
	Errors []string
	// Requests are the URLs the page asked for, other than itself.
	Requests []string
	// Dialogs are the messages of alert, confirm and prompt dialogs.
	Dialogs []string
	// Screenshot is a PNG of the whole page; PDF its printout.
	Screenshot, PDF []byte
	// SVGs counts the inline SVG elements that the browser laid out with a
	// non-zero size; Height is the page's height in CSS pixels.
	SVGs, Height int
}

// Flags are the command-line flags that keep Chromium headless and off the
// network.
var Flags = []string{"headless", "no-sandbox", "disable-gpu", "disable-background-networking",
	"disable-component-update", "no-first-run"}

// Open loads the local file path in the Chromium at exe and returns what it
// saw. The whole visit, browser start included, is bounded by timeout.
func Open(ctx context.Context, exe, path string, timeout time.Duration) (*Visit, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	pageURL := (&url.URL{Scheme: "file", Path: abs}).String()
	profile, err := os.MkdirTemp("", "shadowctl-chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe), chromedp.UserDataDir(profile),
		chromedp.WindowSize(1100, 900), chromedp.Flag("disable-dev-shm-usage", true)}
	for _, f := range Flags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()

	v := &Visit{}
	var mu sync.Mutex
	listen := func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			if e.Request != nil && e.Request.URL != pageURL {
				v.Requests = append(v.Requests, e.Request.URL)
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				v.Errors = append(v.Errors, fmt.Sprintf("console.%s", e.Type))
			}
		case *runtime.EventExceptionThrown:
			v.Errors = append(v.Errors, "exception: "+e.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if e.Entry != nil && e.Entry.Level == cdplog.EntryLevelError {
				v.Errors = append(v.Errors, fmt.Sprintf("log %s: %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		case *page.EventJavascriptDialogOpening:
			v.Dialogs = append(v.Dialogs, e.Message)
		}
	}
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(listen))
	defer cancelTab()

	if err := chromedp.Do(tab, chromedp.Navigate(pageURL), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
		return nil, fmt.Errorf("open %s: %w", pageURL, err)
	}
	svgs, err := chromedp.Run(tab, chromedp.Evaluate[int](
		`[...document.querySelectorAll('svg')].filter(s => { const r = s.getBoundingClientRect(); return r.width > 0 && r.height > 0 }).length`))
	if err != nil {
		return nil, fmt.Errorf("count charts: %w", err)
	}
	height, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.documentElement.scrollHeight`))
	if err != nil {
		return nil, fmt.Errorf("page height: %w", err)
	}
	shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		return nil, fmt.Errorf("screenshot: %w", err)
	}
	pdf, err := chromedp.Run(tab, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		res, err := cdp.Call(ctx, t, page.PrintToPDF, page.PrintToPDFParams{})
		return res.Data, err
	})
	if err != nil {
		return nil, fmt.Errorf("print: %w", err)
	}
	// Close the browser before reading what the listener gathered.
	if err := chromedp.Cancel(tab); err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("close the browser: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	v.Screenshot, v.PDF, v.SVGs, v.Height = shot, pdf, svgs, height
	return v, nil
}

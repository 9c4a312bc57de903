package replay

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Defaults of Options fields left zero.
const (
	DefaultConcurrency = 8
	DefaultTimeout     = 10 * time.Second
	DefaultMaxGap      = time.Second
	DefaultMaxBody     = 32 << 20
	// DefaultEarlyStop is how many first answers of a side must all have
	// failed to connect for the run to stop early.
	DefaultEarlyStop = 10
)

// Options configure a run. Rate and Speed select the schedule: both zero is
// a closed loop (Concurrency requests always in flight), Rate > 0 sends Rate
// requests per second, Speed > 0 follows the recorded inter-arrival times
// divided by Speed.
type Options struct {
	// Target is the candidate's base URL; Baseline, when set, gets every
	// request at the same moment.
	Target, Baseline *url.URL
	// Client sends the requests; nil means NewClient(Concurrency, nil).
	Client *http.Client

	// Concurrency is the number of requests in flight (closed loop), or the
	// cap on them (open loop).
	Concurrency int
	Rate        float64
	Speed       float64
	// MaxGap caps an idle wait between two sends with Speed.
	MaxGap time.Duration
	// Timeout bounds one request, from sending to the last byte.
	Timeout time.Duration
	// MaxBody bounds the answers kept: a longer one is an error row of
	// kind KindTooLarge. 0 means DefaultMaxBody.
	MaxBody int64

	// Limit stops after that many exchanges (0: all); PathPrefix keeps only
	// exchanges whose path starts with it. Exchanges skipped by Skip count
	// toward Limit, so a resumed run replays the same exchanges.
	Limit      int64
	PathPrefix string
	// Header is added to every request, overriding recorded values.
	Header http.Header
	// Skip holds the ids already replayed (resume).
	Skip *IDSet

	// Progress, when set, is called from one goroutine at most every
	// ProgressEvery (default 100ms) and once at the end.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// EarlyStop: when the first EarlyStop answers of a side all failed to
	// connect, the run stops with a *ConnectError. 0 means DefaultEarlyStop,
	// a negative value never stops.
	EarlyStop int
}

// Validate checks the options a user chose.
func (o *Options) Validate() error {
	switch {
	case o.Target == nil:
		return errors.New("no target URL")
	case o.Concurrency < 0:
		return fmt.Errorf("concurrency %d: want 1 or more", o.Concurrency)
	case o.Rate < 0:
		return fmt.Errorf("rate %g: want 0 (closed loop) or more", o.Rate)
	case o.Speed < 0:
		return fmt.Errorf("speed %g: want 0 (off) or more", o.Speed)
	case o.Rate > 0 && o.Speed > 0:
		return errors.New("rate and speed exclude each other: pace at a fixed rate or follow the recorded times")
	case o.Timeout < 0, o.MaxGap < 0, o.MaxBody < 0:
		return errors.New("timeout, max gap and max body cannot be negative")
	case o.Limit < 0:
		return fmt.Errorf("limit %d: want 0 (all) or more", o.Limit)
	}
	for _, u := range []*url.URL{o.Target, o.Baseline} {
		if u == nil {
			continue
		}
		if err := CheckBase(u); err != nil {
			return fmt.Errorf("URL %q: %w", u.Redacted(), err)
		}
	}
	for name, values := range o.Header {
		for _, v := range values {
			if err := CheckHeader(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxGap == 0 {
		o.MaxGap = DefaultMaxGap
	}
	if o.Client == nil {
		o.Client = NewClient(o.Concurrency, nil)
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 100 * time.Millisecond
	}
	if o.EarlyStop == 0 {
		o.EarlyStop = DefaultEarlyStop
	}
	return o
}

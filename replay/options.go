package replay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
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
	// MaxConcurrency bounds Concurrency. Each slot is a goroutine, queue
	// room for its job and outcome, and a connection per side: 10,000 slots
	// with a baseline are 20,000 sockets, within Linux's default ephemeral
	// port range to one address (28,232 ports) and a raised file limit.
	// More cannot be in flight to one target anyway, and a larger value
	// would only reserve memory it cannot use (100,000,000 ran out of it).
	MaxConcurrency = 10000
	// MinRate and MinSpeed are the smallest Rate and Speed. Slower than one
	// request every 1,000 s, or a thousandth of the recorded pace (where
	// nearly every gap is MaxGap anyway), is no schedule anyone waits for;
	// below them the schedule's arithmetic left time.Duration (a rate of
	// 1e-20 sent every request at once). The schedule saturates past them.
	MinRate  = 0.001
	MinSpeed = 0.001
)

// Options configure a run. Rate and Speed select the schedule: both zero is
// a closed loop (Concurrency requests always in flight), Rate > 0 sends Rate
// requests per second, Speed > 0 follows the recorded inter-arrival times
// divided by Speed.
type Options struct {
	// Target is the candidate's base URL; Baseline, when set, gets every
	// request at the same moment.
	Target, Baseline *url.URL
	// Client, when set, sends the requests through net/http (NewClient
	// makes one fit for a load generator). By default they go through the
	// recorder's own HTTP/1.1 client (internal/h1), one keep-alive
	// connection per worker and side, which costs about half the CPU.
	Client *http.Client
	// TLS configures https:// targets when Client is nil (CAs,
	// verification); nil is the default configuration.
	TLS *tls.Config

	// Concurrency is the number of requests in flight (closed loop), or the
	// cap on them (open loop): at most MaxConcurrency.
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
	// Shard keeps only the exchanges of one shard (zero: all). It applies
	// before Limit, PathPrefix and Skip: each is per shard.
	Shard Shard

	// Progress, when set, is called from one goroutine at most every
	// ProgressEvery (default 100ms) and once at the end.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// EarlyStop: when the first EarlyStop answers of a side all failed to
	// connect, the run stops with a *ConnectError. 0 means DefaultEarlyStop,
	// a negative value never stops.
	EarlyStop int

	// OnStop, when set, is called once when ctx ends, from a goroutine of
	// its own, with the number of requests then in flight: Run waits for
	// them, each up to Timeout, unless Abandon closes.
	OnStop func(inFlight int)
	// Abandon, when it closes (a second Ctrl-C), cuts the requests in
	// flight short: their rows are not written (Stats.Abandoned counts
	// them), the rows done are, and Run returns as soon as the workers
	// are out. Closed before ctx ends, it ends the run too.
	Abandon <-chan struct{}
}

// OptionError is an option Validate refuses: the Options field, its value
// and why. A command words it with the flag that set the field.
type OptionError struct {
	Option string
	Value  any
	Err    error
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("%s %v: %v", strings.ToLower(e.Option), e.Value, e.Err)
}
func (e *OptionError) Unwrap() error { return e.Err }

// ErrRateAndSpeed is Validate's error for a Rate and a Speed both set.
var ErrRateAndSpeed = errors.New("rate and speed exclude each other: pace at a fixed rate or follow the recorded times")

// Validate checks the options a user chose.
func (o *Options) Validate() error {
	bad := func(option string, value any, why string) error {
		return &OptionError{Option: option, Value: value, Err: errors.New(why)}
	}
	switch {
	case o.Target == nil:
		return errors.New("no target URL")
	case o.Concurrency < 0:
		return bad("Concurrency", o.Concurrency, "want 1 or more")
	case o.Concurrency > MaxConcurrency:
		return bad("Concurrency", o.Concurrency, fmt.Sprintf("want at most %d (requests in flight to one target; "+
			"to send more, split the recording with shards over several machines)", MaxConcurrency))
	case math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) || o.Rate < 0 || o.Rate > 0 && o.Rate < MinRate:
		return bad("Rate", o.Rate, fmt.Sprintf("want 0 (closed loop) or a rate of at least %g requests per second", MinRate))
	case math.IsNaN(o.Speed) || math.IsInf(o.Speed, 0) || o.Speed < 0 || o.Speed > 0 && o.Speed < MinSpeed:
		return bad("Speed", o.Speed, fmt.Sprintf("want 0 (off) or a factor of at least %g", MinSpeed))
	case o.Rate > 0 && o.Speed > 0:
		return ErrRateAndSpeed
	case o.Timeout < 0, o.MaxGap < 0, o.MaxBody < 0:
		return errors.New("timeout, max gap and max body cannot be negative")
	case o.Limit < 0:
		return bad("Limit", o.Limit, "want 0 (all) or more")
	case o.Shard.Count < 0 || o.Shard.Index < 0 || o.Shard.Count > 0 && o.Shard.Index >= o.Shard.Count:
		return bad("Shard", fmt.Sprintf("%d/%d", o.Shard.Index, o.Shard.Count), ErrShard.Error())
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
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 100 * time.Millisecond
	}
	if o.EarlyStop == 0 {
		o.EarlyStop = DefaultEarlyStop
	}
	return o
}

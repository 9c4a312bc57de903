// Package report compares the answers of a candidate model with the recorded
// production answers (and a baseline, when the replay had one), summarises
// agreement, latency and errors, renders the result for people and CI, and
// evaluates gates on it.
package report

// SchemaVersion is the version of the JSON report. It changes only when a
// key is removed or changes meaning; new keys may appear within a version.
const SchemaVersion = 1

// Report is the outcome of comparing one or more results files. Its JSON form
// (render_json.go) is the documented, versioned contract that gates and CI
// scripts read; every other format renders the same values.
type Report struct {
	SchemaVersion int `json:"schema_version"`
	// Files are the results files read; PartialFiles the in-progress files
	// that were passed over.
	Files        []string `json:"files"`
	PartialFiles []string `json:"partial_files"`
	Settings     Settings `json:"settings"`
	// Exchanges is the number of results rows read.
	Exchanges    int64       `json:"exchanges"`
	WithBaseline int64       `json:"with_baseline"`
	NotCompared  NotCompared `json:"not_compared"`
	Agreement    Agreement   `json:"agreement"`
	Latency      Latency     `json:"latency_ms"`
	Errors       Errors      `json:"errors"`
	// Tokens are the output lengths of LLM answers; null when none had one.
	Tokens *Tokens `json:"tokens"`
	// LatencyCurve and Timeline are the data of the HTML report's plots:
	// bounded summaries, whatever the number of rows.
	LatencyCurve *LatencyCurve `json:"latency_curve_ms"`
	Timeline     []TimePoint   `json:"timeline"`
	// Groups repeat agreement, latency and errors per value of Settings.By.
	Groups []Group `json:"groups"`
	// Disagreements are the worst disagreements, worst first.
	Disagreements []Disagreement `json:"disagreements"`
	Gates         []GateResult   `json:"gates"`
	// Accuracy (with labels), Shift (labels or scores) and Bias (groups and
	// a positive class) are left out when they do not apply.
	Accuracy *Accuracy `json:"accuracy,omitempty"`
	Shift    *Shift    `json:"shift,omitempty"`
	Bias     *Bias     `json:"bias,omitempty"`
	// Passed is true when every gate passed (and when there are none).
	Passed bool `json:"passed"`
}

// Settings echo the options that shaped the report.
type Settings struct {
	Field  string   `json:"field"`
	Ignore []string `json:"ignore"`
	AbsTol float64  `json:"abs_tol" gate:"nonneg"`
	RelTol float64  `json:"rel_tol" gate:"nonneg"`
	Top    int      `json:"top"`
	By     string   `json:"by"`
	// ByAlso, LabelKey, PositiveClass and MinGroup are set only when used.
	ByAlso        []string `json:"by_also,omitempty"`
	LabelKey      string   `json:"label_key,omitempty"`
	PositiveClass string   `json:"positive_class,omitempty"`
	MinGroup      int      `json:"min_group,omitempty"`
}

// NotCompared counts the rows left out of agreement.
type NotCompared struct {
	// RecordedFailed: production had no answer or a non-2xx status.
	RecordedFailed int64 `json:"recorded_failed"`
	// RecordedTruncated: the recorded body was stored cut, so it cannot be
	// compared.
	RecordedTruncated int64 `json:"recorded_truncated"`
}

// Counts are compared and agreeing units with the agreement rate and its
// Wilson 95% interval (null when nothing was compared).
type Counts struct {
	Compared int64    `json:"compared"`
	Agreed   int64    `json:"agreed"`
	Rate     *float64 `json:"rate" gate:"unit"`
	CI95Low  *float64 `json:"ci95_low" gate:"unit"`
	CI95High *float64 `json:"ci95_high" gate:"unit"`
}

func counts(agreed, compared int64) Counts {
	r := rate(agreed, compared)
	return Counts{Compared: compared, Agreed: agreed, Rate: r.Rate, CI95Low: r.CI95Low, CI95High: r.CI95Hi}
}

// AgreementSummary is the headline agreement: per instance where the
// predictions had instances, else per request.
type AgreementSummary struct {
	Rate     *float64 `json:"rate" gate:"unit"`
	CI95Low  *float64 `json:"ci95_low" gate:"unit"`
	CI95High *float64 `json:"ci95_high" gate:"unit"`
	// Unit is "instance" or "request": what Rate counts.
	Unit      string `json:"unit"`
	Requests  Counts `json:"requests"`
	Instances Counts `json:"instances"`
}

// Agreement is how often the candidate gave the recorded answer, and how far
// it was when it did not.
type Agreement struct {
	AgreementSummary
	// Field is the JSONPath of the prediction used for most requests, and
	// FieldSource how it was chosen ("--field" or the detected protocol).
	Field       string     `json:"field"`
	FieldSource string     `json:"field_source"`
	Fields      []FieldUse `json:"fields"`
	// Kind is the dominant kind of instance: labels, scores, probabilities,
	// embeddings, text or other; Kinds counts instances of each.
	Kind          string            `json:"kind"`
	Kinds         map[string]int64  `json:"kinds"`
	Labels        *LabelMetrics     `json:"labels"`
	Numeric       *NumericMetrics   `json:"numeric"`
	Probabilities *VectorMetrics    `json:"probabilities"`
	Embeddings    *EmbeddingMetrics `json:"embeddings"`
	// Text, ToolCalls and FinishReason compare LLM answers (llm.go); null
	// for other answers.
	Text         *TextAgreement     `json:"text"`
	ToolCalls    *ToolCallAgreement `json:"tool_calls"`
	FinishReason *FinishReasons     `json:"finish_reason"`
	// Baseline is the same comparison of the baseline with the recorded
	// answer: the noise floor. Null without a baseline.
	Baseline *Agreement `json:"baseline"`
}

// FieldUse counts the requests whose prediction was found with one path.
type FieldUse struct {
	Path     string `json:"path"`
	Source   string `json:"source"`
	Requests int64  `json:"requests"`
}

// Latency holds the latency summaries of each side, in milliseconds.
type Latency struct {
	Recorded  *LatencySummary `json:"recorded"`
	Candidate *LatencySummary `json:"candidate"`
	Baseline  *LatencySummary `json:"baseline"`
	Ratio     *LatencyRatio   `json:"ratio"`
	Delta     *LatencyDelta   `json:"delta"`
	// TTFT and ITL are for streamed answers (stream.go); null without.
	TTFT *TTFT `json:"ttft"`
	ITL  *ITL  `json:"itl"`
}

// Errors holds the errors of each side and the status transitions.
type Errors struct {
	Recorded  *SideErrors `json:"recorded"`
	Candidate *SideErrors `json:"candidate"`
	Baseline  *SideErrors `json:"baseline"`
	// Transitions count recorded → candidate status changes (an error kind
	// stands for the status when there was no answer), most frequent first.
	Transitions []Transition `json:"transitions,omitempty"`
}

// SideErrors counts the failed requests of one side.
type SideErrors struct {
	Count    int64            `json:"count"`
	Of       int64            `json:"of"`
	Rate     *float64         `json:"rate" gate:"unit"`
	CI95Low  *float64         `json:"ci95_low" gate:"unit"`
	CI95High *float64         `json:"ci95_high" gate:"unit"`
	ByKind   map[string]int64 `json:"by_kind"`
}

// Transition is a status change from the recorded answer to the candidate's.
type Transition struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Count int64  `json:"count"`
}

// Group is the summary of the rows sharing one value of the --by column.
type Group struct {
	Key         string           `json:"key"`
	Exchanges   int64            `json:"exchanges"`
	NotCompared NotCompared      `json:"not_compared"`
	Agreement   AgreementSummary `json:"agreement"`
	Latency     Latency          `json:"latency_ms"`
	Errors      Errors           `json:"errors"`
	// Predictions are each side's class shares per instance of the group;
	// Accuracy, with labels, each side's accuracy in it.
	Predictions *GroupPredictions `json:"predictions,omitempty"`
	Accuracy    *GroupAccuracy    `json:"accuracy,omitempty"`
}

// Disagreement is one request where the candidate did not agree.
type Disagreement struct {
	ID              string `json:"id"`
	Method          string `json:"method"`
	Path            string `json:"path"`
	RecordedStatus  int32  `json:"recorded_status"`
	CandidateStatus int32  `json:"candidate_status"`
	CandidateError  string `json:"candidate_error_kind,omitempty"`
	// Instances that differ (0 when the prediction has no instances).
	Instances int64 `json:"instances_differing"`
	// Differences is the number of differing leaves; Diff shows the first.
	Differences int          `json:"differences"`
	Diff        []Difference `json:"diff"`
}

// GateResult is the outcome of one --fail-on expression.
type GateResult struct {
	Expr string `json:"expr"`
	// Group is set for a gate evaluated on one group (--by).
	Group     string   `json:"group,omitempty"`
	Key       string   `json:"key"`
	Op        string   `json:"op"`
	Threshold float64  `json:"threshold"`
	Value     *float64 `json:"value"`
	Passed    bool     `json:"passed"`
	Message   string   `json:"message"`
}

// Comparing generated text: exact and normalized equality, and three
// similarities in [0, 1].

package report

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Text metrics, as TextRule.Metric and the JSON report name them.
const (
	TextExact      = "exact"
	TextNormalized = "normalized"
	TextTokenF1    = "token-f1"
	TextRougeL     = "rouge-l"
	TextEdit       = "edit"
)

// TextMetrics lists the metric names a TextRule takes.
var TextMetrics = []string{TextExact, TextNormalized, TextTokenF1, TextRougeL, TextEdit}

// TextRule says when two generated texts agree: exactly (the default), once
// normalized, or when a similarity is at least Threshold.
type TextRule struct {
	Metric    string
	Threshold float64
}

// ErrTextRule is wrapped by the errors of ParseTextRule.
var ErrTextRule = errors.New("bad text rule")

// ParseTextRule parses "exact", "normalized" or "METRIC>=T" with METRIC one
// of token-f1, rouge-l, edit (any case) and T in [0, 1].
func ParseTextRule(s string) (TextRule, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == TextExact || t == TextNormalized || t == "" {
		if t == "" {
			t = TextExact
		}
		return TextRule{Metric: t}, nil
	}
	name, th, ok := strings.Cut(t, ">=")
	name = strings.TrimSpace(name)
	if !ok || (name != TextTokenF1 && name != TextRougeL && name != TextEdit) {
		return TextRule{}, fmt.Errorf("%q: %w: want exact, normalized or METRIC>=T with METRIC one of token-f1, rouge-l, edit (e.g. rouge-l>=0.8)", s, ErrTextRule)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(th), 64)
	if err != nil || !(v >= 0 && v <= 1) {
		return TextRule{}, fmt.Errorf("%q: %w: the threshold %q is not a number in [0, 1]", s, ErrTextRule, strings.TrimSpace(th))
	}
	return TextRule{Metric: name, Threshold: v}, nil
}

func (r TextRule) String() string {
	switch r.Metric {
	case "", TextExact:
		return TextExact
	case TextNormalized:
		return TextNormalized
	}
	return r.Metric + ">=" + strconv.FormatFloat(r.Threshold, 'g', -1, 64)
}

// similarityMetric is the similarity a report's distribution shows: the
// rule's, or ROUGE-L when the rule is an equality.
func (r TextRule) similarityMetric() string {
	switch r.Metric {
	case TextTokenF1, TextRougeL, TextEdit:
		return r.Metric
	}
	return TextRougeL
}

// textScores are the measures of one pair of texts.
type textScores struct {
	exact, normalized     bool
	tokenF1, rougeL, edit float64
}

func (s textScores) of(metric string) float64 {
	switch metric {
	case TextTokenF1:
		return s.tokenF1
	case TextEdit:
		return s.edit
	}
	return s.rougeL
}

// agrees applies the rule to the scores.
func (r TextRule) agrees(s textScores) bool {
	switch r.Metric {
	case "", TextExact:
		return s.exact
	case TextNormalized:
		return s.normalized
	}
	return s.of(r.Metric) >= r.Threshold
}

// scoreText measures candidate c against reference a.
func scoreText(a, c string) textScores {
	s := textScores{exact: a == c, normalized: normalizeText(a) == normalizeText(c)}
	wa, wc := words(a), words(c)
	s.tokenF1 = tokenF1(wa, wc)
	s.rougeL = rougeL(wa, wc)
	s.edit = editSimilarity(a, c)
	return s
}

// normalizeText folds case, turns every run of white space into one space
// and trims white space and punctuation at both ends: "  Paris.\n" and
// "paris" are the same answer.
func normalizeText(s string) string {
	s = strings.Join(strings.Fields(strings.ToLower(s)), " ")
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) || unicode.IsSymbol(r) })
}

// maxUnits bounds the words (ROUGE-L) and characters (edit similarity) of
// each text that the quadratic measures look at: longer texts are compared
// on their first maxUnits, so one huge answer cannot stall a report.
const maxUnits = 4096

// words are the lower-cased runs of letters and digits of s: punctuation
// and spacing do not count as words (as in SQuAD's token F1).
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// tokenF1 is the harmonic mean of precision and recall of the words of c
// against those of a, counted as multisets. Two empty texts score 1.
func tokenF1(a, c []string) float64 {
	if len(a) == 0 || len(c) == 0 {
		if len(a) == len(c) {
			return 1
		}
		return 0
	}
	count := make(map[string]int, len(a))
	for _, w := range a {
		count[w]++
	}
	common := 0
	for _, w := range c {
		if count[w] > 0 {
			count[w]--
			common++
		}
	}
	return f1(common, len(a), len(c))
}

// f1 is 2PR/(P+R) for common units of na (reference) and nc (candidate).
func f1(common, na, nc int) float64 {
	if common == 0 {
		return 0
	}
	p := float64(common) / float64(nc)
	r := float64(common) / float64(na)
	return 2 * p * r / (p + r)
}

// rougeL is ROUGE-L's F1 (β = 1): the longest common subsequence of words
// as precision over c and recall over a. Two empty texts score 1.
func rougeL(a, c []string) float64 {
	if len(a) == 0 || len(c) == 0 {
		if len(a) == len(c) {
			return 1
		}
		return 0
	}
	a, c = a[:min(len(a), maxUnits)], c[:min(len(c), maxUnits)]
	prev := make([]int, len(c)+1)
	cur := make([]int, len(c)+1)
	for i := range a {
		for j := range c {
			switch {
			case a[i] == c[j]:
				cur[j+1] = prev[j] + 1
			case prev[j+1] >= cur[j]:
				cur[j+1] = prev[j+1]
			default:
				cur[j+1] = cur[j]
			}
		}
		prev, cur = cur, prev
	}
	return f1(prev[len(c)], len(a), len(c))
}

// editSimilarity is 1 − Levenshtein distance / the longer length, over
// characters (runes) of the texts as they are. Two empty texts score 1.
func editSimilarity(a, c string) float64 {
	ra, rc := []rune(a), []rune(c)
	ra, rc = ra[:min(len(ra), maxUnits)], rc[:min(len(rc), maxUnits)]
	n := max(len(ra), len(rc))
	if n == 0 {
		return 1
	}
	prev := make([]int, len(rc)+1)
	cur := make([]int, len(rc)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := range ra {
		cur[0] = i + 1
		for j := range rc {
			cost := 1
			if ra[i] == rc[j] {
				cost = 0
			}
			cur[j+1] = min(prev[j]+cost, prev[j+1]+1, cur[j]+1)
		}
		prev, cur = cur, prev
	}
	return 1 - float64(prev[len(rc)])/float64(n)
}

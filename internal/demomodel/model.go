package demomodel

import (
	"errors"
	"fmt"
	"math"
)

// Versions lists the model versions Train knows, oldest first.
var Versions = []string{"v1", "v2"}

// Model is a trained classifier. It is immutable after training and safe
// for concurrent use.
type Model struct {
	version string
	classes []string
	// mean and std standardize raw features; every classifier works on
	// standardized values so that one learning rate and one L2 strength
	// suit features whose scales differ by four orders of magnitude.
	mean, std []float64
	clf       classifier
}

// classifier hides the learning algorithm, so versions can differ the way
// real model versions do: in features, regularization or model family.
type classifier interface {
	// probs writes the class probabilities of one standardized row to out.
	probs(z, out []float64)
}

// Train trains the given version ("v1" or "v2") on the embedded breast
// cancer dataset. Training is deterministic: the same version always
// yields the same model.
func Train(version string) (*Model, error) {
	d, err := Load()
	if err != nil {
		return nil, err
	}
	return TrainOn(d, version)
}

// TrainOn trains the given version on d.
//
// v1 is multinomial logistic regression on all features with light L2.
// v2 is logistic regression on only the first 10 features (the "mean"
// measurements of the breast cancer data) with stronger L2: a cheaper,
// slightly less accurate model that disagrees with v1 on a few instances.
func TrainOn(d *Dataset, version string) (*Model, error) {
	if d == nil || len(d.Features) == 0 {
		return nil, errors.New("train: empty dataset")
	}
	if len(d.Classes) < 2 {
		return nil, fmt.Errorf("train: %d classes, want at least 2", len(d.Classes))
	}
	m := &Model{version: version, classes: d.Classes}
	m.mean, m.std = standardizer(d.Features)
	z := make([][]float64, len(d.Features))
	for i, x := range d.Features {
		z[i] = m.standardize(x)
	}
	switch version {
	case "v1":
		m.clf = trainLogistic(z, d.Labels, len(d.Classes), allFeatures(d.NumFeatures()), 1e-3)
	case "v2":
		m.clf = trainLogistic(z, d.Labels, len(d.Classes), allFeatures(min(10, d.NumFeatures())), 0.1)
	default:
		return nil, fmt.Errorf("train: unknown model version %q, want one of %q", version, Versions)
	}
	return m, nil
}

// Version is the version the model was trained as.
func (m *Model) Version() string { return m.version }

// Classes names the classes, in the order of Predict's probabilities.
func (m *Model) Classes() []string { return append([]string(nil), m.classes...) }

// NumFeatures is the number of raw feature values Predict takes.
func (m *Model) NumFeatures() int { return len(m.mean) }

// Predict classifies one instance of NumFeatures raw feature values,
// returning the most probable class name and the probability of each class.
func (m *Model) Predict(features []float64) (label string, probs []float64, err error) {
	if len(features) != len(m.mean) {
		return "", nil, fmt.Errorf("got %d features, want %d", len(features), len(m.mean))
	}
	for j, v := range features {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", nil, fmt.Errorf("feature %d is %v, want a finite number", j, v)
		}
	}
	probs = make([]float64, len(m.classes))
	m.clf.probs(m.standardize(features), probs)
	best := 0
	for k, p := range probs {
		if p > probs[best] {
			best = k
		}
	}
	return m.classes[best], probs, nil
}

func (m *Model) standardize(x []float64) []float64 {
	z := make([]float64, len(x))
	for j, v := range x {
		z[j] = (v - m.mean[j]) / m.std[j]
	}
	return z
}

// standardizer returns the per-feature mean and standard deviation of xs;
// a constant feature gets a deviation of 1 so it standardizes to 0.
func standardizer(xs [][]float64) (mean, std []float64) {
	nf := len(xs[0])
	mean = make([]float64, nf)
	std = make([]float64, nf)
	n := float64(len(xs))
	for _, x := range xs {
		for j, v := range x {
			mean[j] += v / n
		}
	}
	for _, x := range xs {
		for j, v := range x {
			d := v - mean[j]
			std[j] += d * d / n
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j])
		if std[j] == 0 {
			std[j] = 1
		}
	}
	return mean, std
}

func allFeatures(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// logistic is multinomial logistic regression over a subset of features.
type logistic struct {
	features []int       // indexes of the standardized features used
	w        [][]float64 // w[k][j] weighs features[j] for class k
	b        []float64
}

func (l *logistic) probs(z, out []float64) {
	for k := range out {
		s := l.b[k]
		for j, f := range l.features {
			s += l.w[k][j] * z[f]
		}
		out[k] = s
	}
	softmax(out)
}

// Training settings shared by every version: full-batch gradient descent
// with a fixed step and iteration count, so training is deterministic and
// takes a few milliseconds.
const (
	learningRate = 0.1
	iterations   = 1000
)

// trainLogistic fits softmax regression with L2 strength lambda by
// full-batch gradient descent from zero weights.
func trainLogistic(z [][]float64, y []int, classes int, features []int, lambda float64) *logistic {
	l := &logistic{features: features, w: make([][]float64, classes), b: make([]float64, classes)}
	gw := make([][]float64, classes)
	for k := range classes {
		l.w[k] = make([]float64, len(features))
		gw[k] = make([]float64, len(features))
	}
	gb := make([]float64, classes)
	p := make([]float64, classes)
	n := float64(len(z))
	for range iterations {
		for k := range classes {
			clear(gw[k])
		}
		clear(gb)
		for i, zi := range z {
			l.probs(zi, p)
			for k := range classes {
				r := p[k]
				if y[i] == k {
					r--
				}
				gb[k] += r / n
				for j, f := range features {
					gw[k][j] += r * zi[f] / n
				}
			}
		}
		for k := range classes {
			l.b[k] -= learningRate * gb[k]
			for j := range features {
				l.w[k][j] -= learningRate * (gw[k][j] + lambda*l.w[k][j])
			}
		}
	}
	return l
}

// softmax turns scores into probabilities in place, shifting by the
// maximum so large scores cannot overflow.
func softmax(s []float64) {
	hi := math.Inf(-1)
	for _, v := range s {
		hi = max(hi, v)
	}
	var sum float64
	for k, v := range s {
		s[k] = math.Exp(v - hi)
		sum += s[k]
	}
	for k := range s {
		s[k] /= sum
	}
}

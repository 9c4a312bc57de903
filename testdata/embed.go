// Package testdata embeds the small public datasets that the demo model
// server trains on, so a binary run from any directory finds them.
//
// The go tool skips directories named testdata in ./... patterns, but an
// explicit import of this package works; only cmd/demomodel and
// internal/demomodel import it.
package testdata

import _ "embed"

// BreastCancer is the UCI Breast Cancer Wisconsin (Diagnostic) dataset in
// the scikit-learn CSV layout: a header "rows,features,class names...",
// then rows of 30 features and an integer class (0=malignant, 1=benign).
//
//go:embed breast_cancer.csv
var BreastCancer []byte

// Iris is Fisher's Iris dataset in the same CSV layout as BreastCancer:
// 4 features and a class 0=setosa, 1=versicolor, 2=virginica.
//
//go:embed iris.csv
var Iris []byte

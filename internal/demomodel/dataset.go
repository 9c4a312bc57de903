// Package demomodel is a small, real ML model server for demos and
// end-to-end tests: two versions of a classifier trained deterministically
// at startup on the Wisconsin breast cancer dataset, served over the KServe
// V1 and Open Inference Protocol V2 HTTP APIs.
package demomodel

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// The datasets are embedded so that a binary run from any directory finds
// them; data/DATASETS.md gives their sources and licences.
var (
	// breastCancerCSV is the UCI Breast Cancer Wisconsin (Diagnostic)
	// dataset in the scikit-learn CSV layout: a header "rows,features,class
	// names...", then rows of 30 features and an integer class
	// (0=malignant, 1=benign).
	//
	//go:embed data/breast_cancer.csv
	breastCancerCSV []byte

	// irisCSV is Fisher's Iris dataset in the same layout: 4 features and a
	// class 0=setosa, 1=versicolor, 2=virginica.
	//
	//go:embed data/iris.csv
	irisCSV []byte
)

// Dataset is a labelled table of numeric features.
type Dataset struct {
	// Features holds one row of NumFeatures values per instance.
	Features [][]float64
	// Labels holds the class index of each row, an index into Classes.
	Labels []int
	// Classes names the classes, in index order.
	Classes []string
}

// NumFeatures is the number of features of every row.
func (d *Dataset) NumFeatures() int {
	if len(d.Features) == 0 {
		return 0
	}
	return len(d.Features[0])
}

// Load returns the embedded breast cancer dataset (569 rows, 30 features,
// classes "malignant" and "benign").
func Load() (*Dataset, error) {
	d, err := Parse(bytes.NewReader(breastCancerCSV))
	if err != nil {
		return nil, fmt.Errorf("load embedded breast_cancer.csv: %w", err)
	}
	return d, nil
}

// LoadIris returns the embedded Iris dataset (150 rows, 4 features, three
// classes).
func LoadIris() (*Dataset, error) {
	d, err := Parse(bytes.NewReader(irisCSV))
	if err != nil {
		return nil, fmt.Errorf("load embedded iris.csv: %w", err)
	}
	return d, nil
}

// LoadFile reads a dataset from a CSV file in the format Parse reads.
func LoadFile(path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load dataset: %w", err)
	}
	defer f.Close()
	d, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("load dataset %s: %w", path, err)
	}
	return d, nil
}

// Parse reads a dataset in the scikit-learn CSV layout: a header line
// "rows,features,class names...", then one line per row holding the
// feature values followed by the integer class index.
func Parse(r io.Reader) (*Dataset, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // the header is shorter than the rows
	cr.ReuseRecord = true

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty input: want a header line")
	}
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	if len(header) < 4 {
		return nil, fmt.Errorf("header %q: want rows,features and at least two class names", header)
	}
	rows, err := strconv.Atoi(header[0])
	if err != nil || rows < 1 {
		return nil, fmt.Errorf("header: row count %q is not a positive integer", header[0])
	}
	nf, err := strconv.Atoi(header[1])
	if err != nil || nf < 1 {
		return nil, fmt.Errorf("header: feature count %q is not a positive integer", header[1])
	}
	d := &Dataset{
		Features: make([][]float64, 0, rows),
		Labels:   make([]int, 0, rows),
		Classes:  append([]string(nil), header[2:]...),
	}

	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read row: %w", err)
		}
		if len(rec) != nf+1 {
			return nil, fmt.Errorf("line %d: %d fields, want %d features and a class", line, len(rec), nf)
		}
		x := make([]float64, nf)
		for j := range nf {
			v, err := strconv.ParseFloat(rec[j], 64)
			if err != nil {
				return nil, fmt.Errorf("line %d feature %d: %w", line, j, err)
			}
			x[j] = v
		}
		y, err := strconv.Atoi(rec[nf])
		if err != nil || y < 0 || y >= len(d.Classes) {
			return nil, fmt.Errorf("line %d: class %q is not an index into %d classes", line, rec[nf], len(d.Classes))
		}
		d.Features = append(d.Features, x)
		d.Labels = append(d.Labels, y)
	}
	if len(d.Features) != rows {
		return nil, fmt.Errorf("header says %d rows, found %d", rows, len(d.Features))
	}
	return d, nil
}

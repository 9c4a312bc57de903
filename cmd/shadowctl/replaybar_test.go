package main

import (
	"bytes"
	"strings"
	"testing"
)

// The bar's last frame shows what was done: a run stopped after 140 of
// 3000 (an interrupt, a dead target) ended on "3000/3000", because the bar
// was filled whatever the count. A run that did everything is filled; one
// that sent only some (--path-prefix) ends on what it sent.
func TestReplayBarEndsOnTheCountDone(t *testing.T) {
	for _, tc := range []struct {
		max, done int64
		want, bad string
	}{
		{3000, 140, "140/3000", "3000/3000"},
		{3000, 3000, "3000/3000", ""},
		{3000, 576, "576/3000", "3000/3000"},
	} {
		var w bytes.Buffer
		bar := newReplayBar(&w)
		bar.ChangeMax64(tc.max)
		_ = bar.Set64(tc.done / 2)
		endBar(bar, tc.done)
		frames := strings.Split(w.String(), "\r")
		last := frames[len(frames)-1]
		for last == "" || strings.TrimSpace(last) == "" {
			frames = frames[:len(frames)-1]
			last = frames[len(frames)-1]
		}
		if !strings.Contains(last, tc.want) || tc.bad != "" && strings.Contains(last, tc.bad) {
			t.Errorf("max %d, done %d: last frame %q, want %q in it", tc.max, tc.done, last, tc.want)
		}
	}
}

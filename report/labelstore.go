// The label table: one arena of bytes and a map of key hashes, so that a
// million labels hold no pointers for the garbage collector to scan.

package report

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"strings"

	"github.com/shadowctl/shadowctl/internal/safetext"
)

// Labels are true values keyed by what the requests carried. Keys and
// uncommon label texts live in one byte arena, the common texts (a few
// classes) once each, and the index maps key hashes to entries: about 70
// bytes plus the key's length per key, none of it pointers.
type Labels struct {
	seed maphash.Seed
	// hash is maphash with seed; tests replace it to force collisions.
	hash    func(string) uint64
	index   map[uint64]uint32 // hash of a key → its entry
	spill   map[string]uint32 // keys whose hash another key has
	entries []labelEntry
	arena   []byte
	// texts are the shared label texts, textIDs their indexes.
	texts   []string
	textIDs map[string]uint32
	// matched counts the keys some exchange asked for.
	matched int64
	// buf holds the labels of the last lookup.
	buf []string
}

type labelEntry struct {
	keyOff, textOff uint64 // textOff: an index into texts when shared
	keyLen, textLen uint32
	batch, shared   bool
	used            bool
}

// batchSep joins the labels of a batch; a batch whose labels hold it is
// refused.
const batchSep = "\x1f"

// maxTexts bounds the shared label texts.
const maxTexts = 1 << 16

// Len is the number of keys.
func (l *Labels) Len() int { return len(l.entries) }

// Matched is the number of keys some exchange asked for, so far.
func (l *Labels) Matched() int { return int(l.matched) }

// Key is the i-th key, in the order they were set.
func (l *Labels) Key(i int) string { return l.key(&l.entries[i]) }

func (l *Labels) key(e *labelEntry) string {
	return string(l.arena[e.keyOff : e.keyOff+uint64(e.keyLen)])
}

func (l *Labels) text(e *labelEntry) string {
	if e.shared {
		return l.texts[e.textOff]
	}
	return string(l.arena[e.textOff : e.textOff+uint64(e.textLen)])
}

// find returns the entry of key.
func (l *Labels) find(key string) (uint32, bool) {
	if l.index == nil {
		return 0, false
	}
	i, ok := l.index[l.hash(key)]
	if !ok {
		return 0, false
	}
	e := &l.entries[i]
	if string(l.arena[e.keyOff:e.keyOff+uint64(e.keyLen)]) == key {
		return i, true
	}
	i, ok = l.spill[key]
	return i, ok
}

// Set adds one label. A key labeled twice with different values is an
// error; twice alike is not.
func (l *Labels) Set(key string, label any) error {
	text, batch, err := labelText(label)
	if err != nil {
		return err
	}
	if l.index == nil {
		l.seed, l.index, l.spill, l.textIDs = maphash.MakeSeed(), map[uint64]uint32{}, map[string]uint32{}, map[string]uint32{}
		if l.hash == nil {
			l.hash = func(s string) uint64 { return maphash.String(l.seed, s) }
		}
	}
	if i, ok := l.find(key); ok {
		old := &l.entries[i]
		if l.text(old) != text {
			return fmt.Errorf("key %q labeled twice: %s and %s", key, safetext.Clip(shownLabel(l.text(old), old.batch), maxCell),
				safetext.Clip(shownLabel(text, batch), maxCell))
		}
		return nil
	}
	e := labelEntry{keyOff: uint64(len(l.arena)), keyLen: uint32(len(key)), batch: batch}
	l.arena = append(l.arena, key...)
	if id, ok := l.textIDs[text]; ok {
		e.shared, e.textOff = true, uint64(id)
	} else if len(l.texts) < maxTexts {
		l.textIDs[text] = uint32(len(l.texts))
		e.shared, e.textOff = true, uint64(len(l.texts))
		l.texts = append(l.texts, text)
	} else {
		e.textOff, e.textLen = uint64(len(l.arena)), uint32(len(text))
		l.arena = append(l.arena, text...)
	}
	i := uint32(len(l.entries))
	l.entries = append(l.entries, e)
	h := l.hash(key)
	if _, taken := l.index[h]; taken {
		l.spill[key] = i
	} else {
		l.index[h] = i
	}
	return nil
}

func shownLabel(text string, batch bool) string {
	if !batch {
		return text
	}
	b, _ := json.Marshal(strings.Split(text, batchSep))
	return string(b)
}

// lookup returns the labels of key (one per instance for a batch, else
// one) and marks the key used. The slice is reused by the next lookup.
func (l *Labels) lookup(key string) ([]string, bool) {
	i, ok := l.find(key)
	if !ok {
		return nil, false
	}
	e := &l.entries[i]
	if !e.used {
		e.used = true
		l.matched++
	}
	text := l.text(e)
	l.buf = l.buf[:0]
	if !e.batch {
		l.buf = append(l.buf, text)
		return l.buf, true
	}
	for {
		part, after, more := strings.Cut(text, batchSep)
		l.buf = append(l.buf, part)
		if !more {
			return l.buf, true
		}
		text = after
	}
}

// unmatched is the number of keys no exchange asked for.
func (l *Labels) unmatched() int64 { return int64(len(l.entries)) - l.matched }

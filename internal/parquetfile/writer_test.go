package parquetfile

import (
	"bytes"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go/compress/zstd"
)

// The kept encoders must write the frames parquet-go's codec writes, so
// files read and compare as before.
func TestCodecMatchesParquetGo(t *testing.T) {
	ref := &zstd.Codec{Level: zstd.SpeedFastest}
	for _, c := range []struct {
		name string
		src  []byte
	}{
		{"empty", nil},
		{"small", []byte(`{"predictions":[[0.97,0.02,0.01]]}`)},
		{"repetitive", []byte(strings.Repeat(`{"instances":[[5.1,3.5,1.4,0.2]]}`, 10000))},
		{"larger than a block", bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz0123456789"), 20000)},
	} {
		t.Run(c.name, func(t *testing.T) {
			for i := range 3 { // the second and third reuse a kept encoder
				got, err := codec.Encode(nil, c.src)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := ref.Encode(nil, c.src)
				if !bytes.Equal(got, want) {
					t.Fatalf("encode %d: %d bytes, parquet-go's codec %d", i, len(got), len(want))
				}
				back, err := codec.Decode(nil, got)
				if err != nil || !bytes.Equal(back, c.src) {
					t.Fatalf("decode %d: %d bytes, %v; want %d", i, len(back), err, len(c.src))
				}
			}
		})
	}
}

package keyhash

import "testing"

// A key's place must never move (shards of a recording split across
// versions, replicas of the recorder sampling the same users): the values
// are pinned. The empty key's is worked by hand from FNV-1a's offset basis
// (0xcbf29ce484222325, the hash of no bytes) and splitmix64's finalizer.
func TestSum64IsPinned(t *testing.T) {
	x := uint64(0xcbf29ce484222325)
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	for _, tc := range []struct {
		key  string
		want uint64
	}{
		{"", x},
		{"", 0xf52a15e9a9b5e89b},
		{"user-1", 0xc499b5f8a721df58},
		{"user-2", 0x4fb38f414590a87b},
		{"0000000000000001a1b2c3d4e5f60718", 0xf036f04bf4f7c900},
	} {
		if got := Sum64(tc.key); got != tc.want {
			t.Errorf("Sum64(%q) = %#x, want %#x", tc.key, got, tc.want)
		}
	}
}

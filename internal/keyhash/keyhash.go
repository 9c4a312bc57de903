// Package keyhash maps a string key to 64 well-spread bits, the same on
// every machine and in every version: replay's shards (--shard K/N) and the
// live shadow's consistent sampling (--shadow-key) both stand on it, so
// that a key's place never moves.
package keyhash

import "hash/fnv"

// Sum64 is FNV-1a (64 bits) of key, finished with splitmix64's finalizer:
// FNV alone barely moves its high bits between similar keys (user-1,
// user-2) and decides a modulus by a power of two by its low bits alone.
func Sum64(key string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

package netem

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
)

// stream returns the random stream for one purpose at one impairment point
// in one direction. Streams are independent: adding traffic or an
// impairment on one never shifts the draws of another.
func stream(seed uint64, point string, dir Direction, purpose string) *rand.Rand {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	// Length-prefix the strings so ("ab","c") and ("a","bc") differ.
	for _, s := range []string{point, dir.String(), purpose} {
		binary.BigEndian.PutUint64(b[:], uint64(len(s)))
		h.Write(b[:])
		h.Write([]byte(s))
	}
	sum := h.Sum(nil)
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(sum[0:8]), binary.BigEndian.Uint64(sum[8:16])))
}

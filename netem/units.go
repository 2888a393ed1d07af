package netem

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in profiles as a Go duration string
// ("50ms", "1.5s", "2m"). A bare 0 is accepted; other bare numbers are not,
// because "50" could mean seconds or milliseconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the canonical form, so JSON and YAML output parse back.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func parseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as \"50ms\" or \"1.5s\", got %q", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative, got %s", s)
	}
	return Duration(d), nil
}

// Percent is a percentage, 0 to 100. Profiles write it as "10%" or as the
// bare number 10 (both mean ten percent, as in tc-netem).
type Percent float64

// Prob returns p as a probability in [0, 1].
func (p Percent) Prob() float64 { return float64(p) / 100 }

func (p Percent) String() string {
	return strconv.FormatFloat(float64(p), 'f', -1, 64) + "%"
}

// MarshalText writes "10%".
func (p Percent) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

func parsePercent(s string) (Percent, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("want a percentage such as \"10%%\" or 10, got %q", s)
	}
	if v < 0 || v > 100 {
		return 0, fmt.Errorf("must be within 0-100%%, got %s", strings.TrimSuffix(strings.TrimSpace(s), "%"))
	}
	return Percent(v), nil
}

// Bitrate is a rate in bits per second. Profiles write "2Mbit", "500kbit",
// "1.5Gbit" or a bare number of bits per second. Decimal prefixes (k = 1000).
// "kbps"-style units are refused: tc reads them as bytes, most people as bits.
type Bitrate uint64

func (b Bitrate) String() string {
	switch {
	case b == 0:
		return "0"
	case b%1_000_000_000 == 0:
		return strconv.FormatUint(uint64(b)/1_000_000_000, 10) + "Gbit"
	case b%1_000_000 == 0:
		return strconv.FormatUint(uint64(b)/1_000_000, 10) + "Mbit"
	case b%1_000 == 0:
		return strconv.FormatUint(uint64(b)/1_000, 10) + "kbit"
	}
	return strconv.FormatUint(uint64(b), 10) + "bit"
}

// MarshalText writes the largest exact unit, e.g. "2Mbit".
func (b Bitrate) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

func parseBitrate(s string) (Bitrate, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "/s")
	if strings.HasSuffix(t, "bps") {
		return 0, fmt.Errorf("ambiguous unit in %q: write bits per second as \"kbit\", \"Mbit\" or \"Gbit\"", s)
	}
	mult := 1.0
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("want a bit rate such as \"2Mbit\" or \"500kbit\", got %q", s)
	}
	v *= mult
	if v < 0 || v > 1e12 {
		return 0, fmt.Errorf("must be within 0-1000Gbit, got %q", s)
	}
	return Bitrate(math.Round(v)), nil
}

// ByteSize is a count of bytes: a bare integer, or with a binary suffix
// "KiB", "MiB" (or the looser "KB", "MB", also read as 1024).
type ByteSize int64

func (b ByteSize) String() string { return strconv.FormatInt(int64(b), 10) }

func parseByteSize(s string, max int64) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	lower := strings.ToLower(t)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(lower, u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want a whole number of bytes such as 1500 or \"64KiB\", got %q", s)
	}
	if v < 0 || v > max/mult {
		return 0, fmt.Errorf("must be within 0-%d bytes, got %q", max, s)
	}
	return ByteSize(v * mult), nil
}

// UnmarshalText reads the forms MarshalText writes (and every other form a
// profile accepts), so a Profile round-trips through JSON and YAML.
func (d *Duration) UnmarshalText(b []byte) (err error) {
	*d, err = parseDuration(string(b))
	return err
}

// UnmarshalText reads "10%" or "10".
func (p *Percent) UnmarshalText(b []byte) (err error) {
	*p, err = parsePercent(string(b))
	return err
}

// UnmarshalText reads "2Mbit" and the like.
func (b *Bitrate) UnmarshalText(t []byte) (err error) {
	*b, err = parseBitrate(string(t))
	return err
}

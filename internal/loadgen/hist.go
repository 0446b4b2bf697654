package loadgen

import (
	"math/bits"
	"time"
)

// Histogram is a log-linear latency histogram in the manner of HDR
// histograms: microsecond resolution below 128µs, then 64 buckets per power
// of two (a relative error under 1.6%), up to about 18 minutes (larger values
// are clamped). Its memory is fixed (about 14 KiB) whatever the number of
// samples. It is not safe for concurrent use: each client keeps its own and
// they are merged at the end.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    int64 // µs
	min    int64 // µs, valid when n > 0
	sum    float64
}

const (
	histSub     = 128 // linear buckets below 128µs; 64 per octave above
	histHalf    = histSub / 2
	histMaxBits = 30 // values up to 2^30 µs
	histBuckets = histSub + (histMaxBits-7+1)*histHalf
)

func bucketOf(us int64) int {
	if us < 0 {
		us = 0
	}
	if us >= 1<<histMaxBits {
		us = 1<<histMaxBits - 1
	}
	v := uint64(us)
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // >= 1; v>>shift is in [64, 127]
	return histSub + (shift-1)*histHalf + int(v>>shift) - histHalf
}

// bucketHigh is the largest value (µs) counted in bucket i.
func bucketHigh(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	shift := (i-histSub)/histHalf + 1
	m := int64((i-histSub)%histHalf + histHalf)
	return (m+1)<<shift - 1
}

// Record adds one sample.
func (h *Histogram) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	h.counts[bucketOf(us)]++
	if h.n == 0 || us < h.min {
		h.min = us
	}
	if us > h.max {
		h.max = us
	}
	h.n++
	h.sum += float64(us)
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest sample (exact).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) * time.Microsecond }

// Mean is the mean of the samples.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum/float64(h.n)) * time.Microsecond
}

// Quantile returns the value below which the fraction q of samples lie (the
// upper bound of its bucket, never above Max).
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketHigh(i), h.max)) * time.Microsecond
		}
	}
	return h.Max()
}

package sdk

import "testing"

func TestGCLimit(t *testing.T) {
	for _, c := range []struct {
		mb    int64
		limit int64
		ok    bool
	}{
		{0, 0, false},
		{-1, 0, false},
		{8, 0, false},
		{16, 12 << 20, true},
		{256, 192 << 20, true},
		{4096, 3072 << 20, true},
		{1 << 20, 3072 << 20, true}, // counted as wasm32's 4 GiB
	} {
		limit, ok := gcLimit(c.mb)
		if limit != c.limit || ok != c.ok {
			t.Errorf("gcLimit(%d) = %d, %v; want %d, %v", c.mb, limit, ok, c.limit, c.ok)
		}
	}
}

//go:build !unix

package loadgen

// RaiseFileLimit does nothing on this platform.
func RaiseFileLimit() (uint64, error) { return 0, nil }

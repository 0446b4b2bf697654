package store_test

import (
	"testing"

	"github.com/phasehost/phasehost/host/store"
)

func TestMemory(t *testing.T) {
	testStore(t, func(t *testing.T, opts store.Options) store.Store { return store.NewMemory(opts) })
}

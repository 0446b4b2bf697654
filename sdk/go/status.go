package sdk

import (
	"fmt"

	"github.com/phasehost/phasehost/sdk/go/abi"
)

// statusErr turns an emit status code into the SDK's error.
func statusErr(code int32) error {
	switch code {
	case abi.OK:
		return nil
	case abi.Cancelled:
		return ErrCancelled
	case abi.UndeclaredPhase:
		return ErrUndeclaredPhase
	case abi.BadMessage:
		return ErrBadMessage
	case abi.EventBudget:
		return ErrEventBudget
	}
	return fmt.Errorf("phasehost: unknown emit status %d", code)
}

package loadcollector

import (
	"errors"

	"github.com/trilens/trilens/pkg/collect"
)

func statusOf(err error) int {
	var ie *collect.Error
	if errors.As(err, &ie) {
		return ie.Status
	}
	if errors.Is(err, collect.ErrTooLarge) {
		return 413
	}
	return 500
}

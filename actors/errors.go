package actors

import (
	"errors"
	"fmt"
)

var (
	// ErrStopped is returned by Register once the router is stopping.
	ErrStopped = errors.New("actors: router stopped")
	// ErrNilHandler is returned by Register for a nil handler.
	ErrNilHandler = errors.New("actors: nil handler")
)

// PanicError is what a handler panicked with. The handler actor re-panics
// with it so that its supervisor restarts the actor.
type PanicError struct {
	Type  string
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("actors: handler for %q panicked: %v", e.Type, e.Value)
}

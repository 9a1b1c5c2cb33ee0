package presence

import "errors"

var (
	// ErrNotActive is returned by Handover when this node is not the active
	// instance.
	ErrNotActive = errors.New("presence: not the active instance")
	// ErrUnknownMember is returned by Handover for a target that is not an
	// alive Go member of the room.
	ErrUnknownMember = errors.New("presence: no such alive member")
	// ErrBadRecord marks a presence record that a correct sender never
	// writes; it is dropped.
	ErrBadRecord = errors.New("presence: bad record")
	// ErrInvalidOption is returned by New for an option outside its range.
	ErrInvalidOption = errors.New("presence: invalid option")
	// ErrClosed is returned once Close has begun.
	ErrClosed = errors.New("presence: closed")
)

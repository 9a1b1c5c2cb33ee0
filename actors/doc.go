// Package actors routes inbound frames to user handlers: a router actor
// splits each frame by message type, and each type has its own handler actor
// with its own mailbox, spawned when the type is first registered. A slow,
// failing or panicking handler therefore delays or breaks only its own type;
// a panic restarts that handler actor through a Strategy, this package's
// protoactor SupervisorStrategy, which applies a supervisor.Policy (backoff
// and restart intensity) to each child it supervises.
//
// It never touches the chat connection.
package actors

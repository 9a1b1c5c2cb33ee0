// Package memchat is an in-process chat room that implements the
// chatgateway Conn and Dialer interfaces, for unit tests, examples and the
// demo.
//
// A Room behaves like a real room as a client sees it: message IDs increase
// from 1, every post is delivered to every live connection including the
// poster's own (a real room echoes your own messages), edits arrive as
// messages with Edited set, and posts over the room's length limit are
// refused with chatgateway.ErrMessageTooLong.
//
// Each Member is one chat client: an account (several members may share
// one, as SmokeDetector's instances do) plus a connection name that the
// transcript records as Entry.Via. A member has at most one live Conn.
// Like a websocket that was down, a member receives nothing that was posted
// while it had no live Conn; a new Dial sees later messages only.
//
// Tests break things with the fault hooks on Member (Break, FailPosts,
// FailDials) and observe the room with Transcript and WaitFor, which wakes
// on every post and edit instead of polling.
//
// The package starts no goroutines: delivery appends to each connection's
// unbounded inbox under the room's lock, so a slow reader never blocks a
// poster, and Read waits on a sync.Cond.
package memchat

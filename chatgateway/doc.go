// Package chatgateway connects a node to its chat room. The gateway actor
// owns one Conn at a time: one reader goroutine turns chat messages into
// frames for the router, one writer goroutine posts what the outbound queue
// holds, and when the connection fails the gateway dials again with
// exponential backoff and jitter, keeping the queue. Adapters for chat
// servers implement Dialer and Conn in sub-packages (memchat: an in-process
// room).
//
// It never calls user handlers.
package chatgateway

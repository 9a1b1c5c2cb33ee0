// Package gateway is the machinery that drives one chat connection for a
// node: the gateway actor owns one chatgateway.Conn at a time; one reader
// goroutine checks what the room says (trust, reassembly, limits,
// signatures) and hands frames to the router; one writer goroutine posts
// what the outbound queue holds, coalesced, stamped, signed, fragmented and
// paced; when the connection fails the gateway dials again with
// exponential backoff and jitter, keeping the queue.
//
// It never calls user handlers. Users reach it through the root package's
// Node; its exported surface is for that wiring.
package gateway

// Package chatgateway is the contract between a node and a chat server: what
// an adapter implements (Dialer and Conn, written on the interfaces), what it
// reports (Identity, Limits) and how it marks its errors for the gateway
// (Permanent, Rejected, RetryAfter). It is a leaf: it imports no actor
// runtime, so an adapter (memchat, sechat, ircws, in sub-packages) imports
// only this, messages, and its own protocol's libraries. The machinery that
// drives a Conn is in chatgateway/gateway.
package chatgateway

// Package test holds socketscience's end-to-end tests: whole nodes talking
// through a room, with faults injected.
package test

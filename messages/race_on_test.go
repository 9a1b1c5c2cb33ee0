//go:build race

package messages

// raceEnabled: the race detector changes allocation sizes, and allocates
// for small values that a normal build boxes for free.
const raceEnabled = true

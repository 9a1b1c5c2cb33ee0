//go:build race

package browser

// raceEnabled builds the demo with -race when the test itself is, so that the
// demo is checked for races as it was when this test ran it in-process.
const raceEnabled = true

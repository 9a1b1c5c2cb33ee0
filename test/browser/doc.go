// Package browser holds the browser tests of the demo's room and status pages. It is a
// module of its own so that the library's module does not require a browser
// driver (chromedp): the test builds cmd/demo from the repository and runs
// it, as a person would with go run ./cmd/demo.
package browser

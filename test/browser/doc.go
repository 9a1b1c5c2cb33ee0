// Package browser holds the browser test of the demo's room page. It is a
// module of its own so that the library's module does not require a browser
// driver (chromedp): the test builds cmd/demo from the repository and runs
// it, as a person would with go run ./cmd/demo.
package browser

package browser

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// A person opens the demo's status page, types !!/coffee in the room page,
// and sees every instance's count change live; then the bot's sockets are
// killed and the page shows each instance disconnect and come back.
func TestBrowserStatusPage(t *testing.T) {
	exe := chromium(t)
	out, stop := startDemo(t)
	urls := regexp.MustCompile(`Room: (\S+)\nStatus: (\S+)\n`)
	require.Eventually(t, func() bool { return urls.MatchString(out.String()) }, 20*time.Second, 10*time.Millisecond, out.String())
	m := urls.FindStringSubmatch(out.String())
	roomURL, statusURL := m[1], m[2]
	require.Eventually(t, func() bool { return strings.Count(out.String(), "*serves another coffee*") == 3 }, 20*time.Second, 10*time.Millisecond)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	statusTab, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	statusTab, cancelTimeout := context.WithTimeout(statusTab, 60*time.Second)
	defer cancelTimeout()
	poll := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))
	}
	// Double quotes only in polled expressions (see TestBrowserRoomPage).
	rows := `Array.from(document.querySelectorAll("tr.instance"))`
	everyRow := func(cond string) string { return rows + `.length === 3 && ` + rows + `.every(r => ` + cond + `)` }
	handled := func(n int) string {
		return everyRow(`r.querySelector(".types").textContent.includes("beverage: handled: ` + strconv.Itoa(n) + `")`)
	}

	require.NoError(t, chromedp.Do(statusTab,
		chromedp.Navigate(statusURL),
		poll(`document.querySelector("#stream").textContent === "live"`),
		poll(handled(1)),
		poll(everyRow(`r.dataset.state === "connected"`)),
	))
	names, err := chromedp.Run(statusTab, chromedp.Evaluate[[]string](rows+`.map(r => r.querySelector(".name").textContent)`))
	require.NoError(t, err)
	require.Equal(t, []string{"alpha (active)", "bravo", "charlie"}, names)

	// !!/coffee typed in the room page, in a second tab; the status tab
	// follows without being reloaded.
	roomTab, cancelRoom := chromedp.NewContext(statusTab)
	defer cancelRoom()
	require.NoError(t, chromedp.Do(roomTab,
		chromedp.Navigate(roomURL),
		poll(`document.querySelector("#input") !== null`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#name").value = "browser person";
			document.querySelector("#input").value = "!!/coffee";
			document.querySelector("#sayit").click()`),
	))
	require.NoError(t, chromedp.Do(statusTab,
		poll(handled(2)),
		poll(`document.querySelector("#frames").textContent.includes("!!/coffee")`),
	))

	// The demo's kill endpoint drops the bot account's WebSockets, as a
	// network failure would: each instance logs the disconnect and
	// reconnects.
	require.NoError(t, chromedp.Do(statusTab,
		chromedp.Evaluate[chromedp.Void](`fetch(location.pathname + "/kill", {method: "POST"})`),
		poll(everyRow(`r.querySelector(".changes").textContent.includes("disconnected")`)),
		poll(everyRow(`r.dataset.state === "connected" && r.querySelector(".disconnects").textContent.startsWith("1 / ")`)),
	))

	require.NoError(t, stop())
}

package socketscience_test

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
)

// Two instances of a bot share a room; one asks for coffee, and both serve
// one, the sender too: a node handles its own payloads, as SmokeDetector
// does (WithoutSelfDelivery turns that off).
func Example() {
	ctx := context.Background()
	room := memchat.NewRoom()
	account := chatgateway.Identity{UserID: 1, UserName: "SmokeDetector"}
	alpha, _ := socketscience.New(room.Member(account, "alpha"))
	bravo, _ := socketscience.New(room.Member(account, "bravo"))
	defer alpha.Close(ctx)
	defer bravo.Close(ctx)

	type Beverage struct {
		MessageID int64  `json:"message_id"`
		Type      string `json:"beverage_type"`
	}
	served := make(chan string)
	for name, node := range map[string]*socketscience.Node{"alpha": alpha, "bravo": bravo} {
		socketscience.Handle(node, "beverage", func(ctx context.Context, b Beverage) error {
			served <- name + ": *serves another " + b.Type + "*"
			return nil
		})
	}
	alpha.WaitConnected(ctx)
	bravo.WaitConnected(ctx)

	alpha.Send(ctx, socketscience.Payload{"beverage": Beverage{MessageID: 44402065, Type: "coffee"}})
	got := []string{<-served, <-served}
	slices.Sort(got)
	fmt.Println(strings.Join(got, "\n"))
	// Output:
	// alpha: *serves another coffee*
	// bravo: *serves another coffee*
}

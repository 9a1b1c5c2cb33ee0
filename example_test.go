package socketscience_test

import (
	"context"
	"fmt"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
)

// Two instances of a bot share a room; one asks for coffee, the other serves.
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
	socketscience.Handle(bravo, "beverage", func(ctx context.Context, b Beverage) error {
		served <- "*serves another " + b.Type + "*"
		return nil
	})
	alpha.WaitConnected(ctx)
	bravo.WaitConnected(ctx)

	alpha.Send(ctx, socketscience.Payload{"beverage": Beverage{MessageID: 44402065, Type: "coffee"}})
	fmt.Println(<-served)
	// Output: *serves another coffee*
}

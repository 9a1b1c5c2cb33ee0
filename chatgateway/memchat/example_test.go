package memchat_test

import (
	"context"
	"fmt"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
)

// Two members of one room exchange a message; each sees it, as a real room
// echoes a post to its poster too.
func Example() {
	ctx := context.Background()
	room := memchat.NewRoom()
	ny, _ := room.Member(chatgateway.Identity{UserID: 1, UserName: "smokey"}, "ny").Dial(ctx)
	ldn, _ := room.Member(chatgateway.Identity{UserID: 1, UserName: "smokey"}, "ldn").Dial(ctx)
	defer ny.Close()
	defer ldn.Close()

	id, _ := ny.Post(ctx, "ping")
	got, _ := ldn.Read()
	echo, _ := ny.Read()
	fmt.Println(id, got.UserName, got.Text)
	fmt.Println(echo.ID == id)

	ldn.Post(ctx, "pong")
	reply, _ := ny.Read()
	fmt.Println(reply.ID, reply.Text)
	for _, e := range room.Transcript() {
		fmt.Printf("%d %s via %s\n", e.ID, e.Text, e.Via)
	}
	// Output:
	// 1 smokey ping
	// true
	// 2 pong
	// 1 ping via ny
	// 2 pong via ldn
}

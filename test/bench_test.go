package test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/memchat"
)

// BenchmarkDeliveryUnderRateLimit sends bursts of payloads (20 types,
// cycling) through a room that allows one post per 10 ms, and reports
// chat posts per payload and payloads delivered per second, with and
// without coalescing.
func BenchmarkDeliveryUnderRateLimit(b *testing.B) {
	const types, burst = 20, 200
	for _, coalesce := range []bool{true, false} {
		b.Run(fmt.Sprintf("coalesce=%v", coalesce), func(b *testing.B) {
			room := memchat.NewRoom(memchat.WithPostRate(10*time.Millisecond, 1))
			var opts []socketscience.Option
			if !coalesce {
				opts = append(opts, socketscience.WithoutCoalescing())
			}
			sender, err := socketscience.New(room.Member(bot, "sender"), opts...)
			if err != nil {
				b.Fatal(err)
			}
			receiver, err := socketscience.New(room.Member(bot, "receiver"), socketscience.WithQueueSize(1))
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				_ = sender.Close(ctx)
				_ = receiver.Close(ctx)
			}()
			var got, target atomic.Int64
			delivered := make(chan struct{}, 1)
			for i := range types {
				if _, err := receiver.Register(fmt.Sprintf("t%d", i), func(context.Context, socketscience.Message) error {
					if got.Add(1) == target.Load() {
						delivered <- struct{}{}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			if err := sender.WaitConnected(ctx); err != nil {
				b.Fatal(err)
			}
			if err := receiver.WaitConnected(ctx); err != nil {
				b.Fatal(err)
			}
			posted := sender.Stats().Posted
			b.ResetTimer()
			for n := range b.N {
				target.Store(int64((n + 1) * burst))
				for i := range burst {
					if err := sender.Send(ctx, socketscience.Payload{fmt.Sprintf("t%d", i%types): i}); err != nil {
						b.Fatal(err)
					}
				}
				<-delivered
			}
			b.StopTimer()
			payloads := float64(b.N * burst)
			b.ReportMetric(float64(sender.Stats().Posted-posted)/payloads, "posts/payload")
			b.ReportMetric(payloads/b.Elapsed().Seconds(), "payloads/s")
		})
	}
}

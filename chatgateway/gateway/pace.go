package gateway

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// admit reports whether a post may go now; if not, it holds posting until
// the limiter's next token, which is then reserved for it.
func (g *Gateway) admit() bool {
	if g.hold != nil {
		return false
	}
	if g.limiter == nil || g.granted {
		return true
	}
	now := g.cfg.Clock.Now()
	g.relax(now)
	if d := g.limiter.ReserveN(now, 1).DelayFrom(now); d > 0 {
		g.granted = true
		g.holdFor(d)
		return false
	}
	return true
}

func (g *Gateway) holdFor(d time.Duration) {
	if g.hold != nil {
		g.hold.Stop()
	}
	g.hold = g.cfg.Clock.AfterFunc(d, func() { g.tell(&resume{}) })
}

// learnRate slows posting to one per after (at most MaxLearnedInterval),
// if that is slower than the pace now: a server that had to say "wait"
// will say it again at the same pace.
func (g *Gateway) learnRate(after time.Duration) {
	now := g.cfg.Clock.Now()
	g.relax(now)
	interval := min(after, MaxLearnedInterval)
	if g.limiter != nil && rate.Every(interval) >= g.limiter.Limit() {
		return
	}
	g.learned, g.learnedAt = interval, now
	g.limiter = rate.NewLimiter(rate.Every(interval), 1)
	g.granted = false
}

// relax moves a learned pace toward the connection's own: the difference
// halves every LearnedPaceHalfLife since it was learned, and is forgotten
// once it is small.
func (g *Gateway) relax(now time.Time) {
	if g.learned <= g.base {
		return
	}
	halvings := float64(now.Sub(g.learnedAt)) / float64(LearnedPaceHalfLife)
	excess := time.Duration(float64(g.learned-g.base) * math.Exp2(-halvings))
	if excess < g.base/10 || excess < 10*time.Millisecond {
		g.learned = 0
		g.limiter = nil
		if g.base > 0 { // back to the connection's own pace and burst
			g.limiter = rate.NewLimiter(rate.Every(g.base), max(g.Limits().PostBurst, 1))
		}
		return
	}
	g.limiter.SetLimitAt(now, rate.Every(g.base+excess))
}

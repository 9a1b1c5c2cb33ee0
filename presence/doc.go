// Package presence tells the instances of a bot who is alive and makes
// exactly one of them the active instance, over the chat room they share,
// with no server, lock service or database: the room's own message order
// is the arbiter. It is built on socketscience's public Node API only
// (Send, Register, Health), as a user could have written it.
//
//	p, err := presence.New(node, presence.WithName("Henders/EC2"))
//	...
//	go p.WhileActive(ctx, func(ctx context.Context) error {
//		return watchForSpam(ctx, p.Term()) // ctx ends the moment the role is lost
//	})
//	if p.IsActive() { answer(command) } // commands that must be answered once
//
// # Model
//
// Every node posts presence records (type "presence") through its Node:
// a hello after each (re)connection, a standby heartbeat every
// StandbyInterval, and, while active, a renewal every RenewInterval. Every
// record names its sender (node id, a per-start incarnation, name,
// priority, role, term, lease, heartbeat interval, start time, version),
// so every record is also a membership announcement; Members lists what a
// node has heard, alive / suspected (silent for two heartbeat intervals) /
// gone (four), and WithOnMemberChange reports changes. SmokeDetector's
// {"ping": {"location", "timestamp"}} shows a Python instance as a member
// with RoleSmokeDetector, never elected; WithSmokeDetectorPing makes the
// Go active send such pings too.
//
// The election is a pure state machine, Core, wrapped by a thin driver,
// Presence. Its rules:
//
//   - The room is a totally ordered log: every node reads the records in
//     the server's order. A node that has (re)connected may have missed
//     what was said meanwhile, so it forgets the election's state, posts a
//     hello, and reads its hello back before anything else counts: from
//     there on it reads the room without a gap (it is "synced").
//   - Terms increase; the state is (term, holder, renewal number). A claim
//     names the state it replaces. The first claim in room order that names
//     the current state wins the next term; every later one names a state
//     that no longer holds and loses, in every node's view at once, so the
//     loser stands down at once. No compare-and-swap server is needed: the
//     room's order is the swap. Ties between claims are impossible in a
//     log; the standbys' priority (then node id) orders when they claim, so
//     the preferred one usually claims alone (ClaimStagger apart).
//   - A node that does not know the state (it just connected) learns it
//     only from a renewal that acknowledges its own hello (so a late post
//     of a holder long superseded cannot mislead it), and if none comes
//     for a lease after its hello and no election record appeared, it
//     claims the vacancy: such a claim wins if no election record came
//     between its sender's hello and it, which every node that read that
//     hello decides alike.
//   - The active counts a renewal as done when it reads it back from the
//     room, and its RenewDeadline runs from when it sent the last one done
//     (a timer fires exactly then): past it, it steps down by its own
//     clock. A standby's wait, LeaseDuration + Grace (+ its stagger), runs
//     from when it read the latest election record of another node, and
//     restarts at every one. A node that is not connected and synced never
//     claims.
//   - The term is a fencing token: hand Term() to whatever the active
//     writes. Should a vacancy claim win a term not above one an old
//     holder had (its sender missed that term while away), nodes that knew
//     say so (Record.Fence) and the active claims past it at once.
//
// # Guarantees and their conditions
//
// No two actives at once. Let clocks run at rates (against real time)
// within [r_min, r_max]. Suppose standby S wins term T+1 with a claim C
// naming state (T, H, k). In room order, H's renewal k precedes C and no
// later renewal of H does; S read renewal k (or a later election record)
// at real time t_r and posted C at least (LeaseDuration + Grace) / r_max
// after t_r. H sent renewal k at t_s ≤ t_r, and every renewal it sends
// after k is after C in room order, so H reads C before any of them back:
// H is active at most until t_s + RenewDeadline / r_min, and S becomes
// active only when it reads C back, after it posted it. So H has stopped
// before S starts if
//
//	RenewDeadline / r_min < (LeaseDuration + Grace) / r_max,
//	that is  r_max / r_min < (LeaseDuration + Grace) / RenewDeadline  (Timings.MaxRateRatio).
//
// Default and fast timings allow a ratio of 1.5 (a clock 20% fast against
// one 20% slow); real clocks differ by parts per million. Clock offsets
// (skew) do not matter: no node compares its time with another's. A
// vacancy claim is safe the same way, from its sender's hello. Handover
// and StepDown are safe trivially: the active stops acting before it posts
// the resignation. The argument needs each node to read the room in order
// and to know when it may have missed messages (a reconnection, as
// Node.Health shows it); presence assumes nothing else of the server: posts
// may fail, land late or never, be throttled, or land twice.
//
// Failover. Once the active dies (or is cut off), a standby that is
// connected and synced claims within LeaseDuration + Grace (+ ClaimStagger
// × its rank) of reading the active's last renewal, by its own clock; the
// new active starts when it reads its claim back. With the default timings
// (Stack Exchange chat) that is at most LeaseDuration + Grace +
// RenewInterval = 3.5 minutes after the death, about 2 on average; with
// FastTimings (IRC, Matrix) 7 s.
//
// Stability. A healthy active keeps the role: a renewal may be held back
// (409 throttling, pacing) by up to RenewDeadline - RenewInterval (40 s by
// default) without consequence, and a standby whose own view lags (a
// stalled socket) claims with a stale state and loses in everyone's view,
// its own included. Failback to a preferred instance is off by default
// (WithFailback), so a returning instance does not take the role back.
//
// Costs: by default the active posts 60 records an hour and each standby
// 12, plus a hello per reconnection; records ride in the same coalesced
// posts as other payloads.
//
// These are tested: presencesim drives Core over a simulated room with
// partitions, lost, late and throttled posts, stalled and flapping
// sockets, killed actives and clocks at different rates, for thousands of
// seeded schedules (see docs/presence.md); presence's own tests run real
// Nodes over memchat, Stack Exchange chat (sechattest) and InspIRCd.
//
// # One coordination room
//
// Presence elects over one room and relies on that room's order. A bot in
// several rooms runs presence on the Node of one designated coordination
// room only, and its other rooms' handlers ask that Presence whether to
// act. Two Presences in two rooms would elect two actives, one per room.
package presence

package invite

import (
	"context"
	"sync"
	"time"

	"umc-invite/umc"
)

// baselineTTL is how long one answer of the baseline serves. A stale one
// cannot prove a wrong refusal: a refusal counts only when its message is
// the very message UMC gave for a user that cannot exist.
const baselineTTL = 30 * time.Second

// baselineCache asks UMC how it refuses an impossible user, at most once
// per baselineTTL for the output.
type baselineCache struct {
	mu   sync.Mutex
	at   time.Time
	last umc.Baseline
}

func (o *Output) baseline(ctx context.Context) umc.Baseline {
	c := &o.baselines
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < baselineTTL {
		return c.last
	}
	select {
	case o.slots <- struct{}{}:
		defer func() { <-o.slots }()
	case <-ctx.Done():
		return umc.Baseline{}
	}
	// Its two calls count against Rate_Limit like any other: UMC's own
	// limit counts refused calls too.
	for range 2 {
		if o.limiter != nil && o.limiter.Wait(ctx) != nil {
			return umc.Baseline{}
		}
	}
	c.last, c.at = o.client.AskBaseline(ctx), time.Now()
	if c.last.Refusing() {
		o.log.Infof("UMC's self-service works and refuses users it will never mail with: %s", c.last.Unknown.Message)
	} else {
		o.log.Warnf("UMC does not refuse a user that cannot exist as it should (%s; %s): refusals are taken for an outage", c.last.Unknown, c.last.Method)
	}
	return c.last
}

// proveRefusals settles refusals nothing else could prove: when UMC
// refuses this user a second time, in an earlier flush too (a moment of
// replication lag is not a refusal), in the same words as a user that
// cannot exist, while its self-service demonstrably works, and fewer than
// outageUsers users were refused since UMC last served anyone (many
// refused alike is a misconfiguration: a whitelist, an empty replica), the
// refusal is the user's own. This is what ends two refused users on a
// quiet system, which otherwise look exactly like an outage.
func (o *Output) proveRefusals(ctx context.Context, jobs []*job, t *tally) {
	var open []*job
	for _, j := range jobs {
		if !j.done && j.sent && j.outcome.Kind == umc.Refused && j.entry.Unproven && j.refusedAgain {
			open = append(open, j)
		}
	}
	if len(open) == 0 || o.witness.refusedAlike() >= outageUsers {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.FlushTimeout)
	defer cancel()
	b := o.baseline(ctx)
	for _, j := range open {
		if b.RefusesLikeUnknown(j.answer) {
			o.charge(j, "UMC refuses a user that cannot exist in the same words, while its self-service works")
			o.writeLetter(j, t)
		}
	}
}

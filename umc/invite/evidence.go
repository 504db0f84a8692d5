package invite

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/policy"
)

// evidenceReuse is how long the latest probe may stand in for a new one
// where it can only keep a user waiting (never refuse anyone): a refusal
// is proven only by probes asked after the user's answer.
const evidenceReuse = 30 * time.Second

// evidenceCache holds UMC's latest answers for a user that cannot exist and
// a made-up method, and when they were asked; one probe serves every answer
// that came before it.
type evidenceCache struct {
	mu     sync.Mutex
	at     time.Time
	last   umc.Baseline
	asked  bool
	worked bool // what the last probe said, to log changes only
	logged bool
}

// evidence says what UMC's refusal or 503 a, answered at answered, is
// evidence of. It asks UMC how it refuses an impossible user (two calls
// that mail no one) unless a probe asked after the answer is at hand, or
// the latest one, recent, shows a refusal cannot be an impossible user's
// anyway. paced: the probe's calls keep an outage's one call a second.
func (o prober) evidence(ctx context.Context, a umc.Answer, answered time.Time, paced bool) policy.Evidence {
	c := &o.probes
	c.mu.Lock()
	defer c.mu.Unlock()
	recent := c.asked && o.now().Sub(c.at) < evidenceReuse
	if !c.at.After(answered) {
		// A refusal that cannot be an impossible user's may be weighed by
		// a recent probe; UMC's 503 only by one asked after it.
		if recent && a.Status == http.StatusBadRequest && !(c.last.Refusing() && c.last.RefusesLikeUnknown(a)) {
			// Cannot refuse anyone: keep the user waiting, spare UMC.
			return weigh(c.last, a, false)
		}
		if b, ok := o.askBaseline(ctx, paced); ok {
			c.last, c.at, c.asked = b, o.now(), true
			o.logEvidence(c)
		} else {
			return policy.NoEvidence
		}
	}
	return weigh(c.last, a, true)
}

// weigh reads a probe for answer a; after says whether the probe was
// asked after the answer, as a refusal needs.
func weigh(b umc.Baseline, a umc.Answer, after bool) policy.Evidence {
	u, m := b.Unknown, b.Method
	switch {
	case b.Refusing() && b.RefusesLikeUnknown(a) && after:
		return policy.LikeImpossible
	case b.Refusing() && !b.RefusesLikeUnknown(a):
		return policy.UnlikeImpossible
	case b.Refusing():
		return policy.NoEvidence
	case u.Err == nil && m.Err == nil && u.FromUMC && m.FromUMC && u.Status == http.StatusBadRequest && m.Status == http.StatusBadRequest:
		return policy.ServiceOff // the made-up method refused alike
	}
	return policy.NoEvidence
}

// askBaseline makes the probe's two calls within the output's budget;
// paced, in an outage, within its one call a second.
func (o prober) askBaseline(ctx context.Context, paced bool) (umc.Baseline, bool) {
	select {
	case o.slots <- struct{}{}:
		defer func() { <-o.slots }()
	case <-ctx.Done():
		return umc.Baseline{}, false
	}
	// Its two calls count against Rate_Limit like any other (UMC's own
	// limit counts refused calls too), and in an outage against its one
	// call a second, but for the probe that tells whether a 503 opened one.
	b, err := o.client.AskBaseline(ctx, func() error {
		if o.limiter != nil {
			if err := o.limiter.Wait(ctx); err != nil {
				return err
			}
		}
		if !paced {
			return nil
		}
		return o.gate.pace(ctx, o.now)
	})
	return b, err == nil
}

// logUnauthorized says, at most once a minute, that UMC rejects the
// configured credentials: the operator's mistake, which waiting does not
// heal; users stay queued meanwhile.
func (o prober) logUnauthorized(answer string) {
	now := o.now()
	last := o.unauthorizedLogged.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < time.Minute || !o.unauthorizedLogged.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	who := "anonymous (no Auth_User)"
	if o.cfg.AuthUser != "" {
		who = fmt.Sprintf("Auth_User %q", o.cfg.AuthUser)
	}
	o.log.Errorf("UMC rejects the configured credentials, %s: %s. This is a configuration mistake that waiting will not heal: "+
		"fix Auth_User and its password (or leave both unset for anonymous calls); users stay queued, one call at a time until then", who, answer)
}

func (o prober) logEvidence(c *evidenceCache) {
	works := c.last.Refusing()
	if c.logged && works == c.worked {
		return
	}
	c.worked, c.logged = works, true
	if works {
		o.log.Infof("UMC's self-service works and refuses a user that cannot exist with: %s", c.last.Unknown.Message)
	} else {
		o.log.Warnf("UMC does not refuse a user that cannot exist as it should (%s; %s): nobody is refused while so", c.last.Unknown, c.last.Method)
	}
}

// prober is the output's part that weighs a refusal by asking UMC how it
// refuses a user that cannot exist.
type prober struct{ *Output }

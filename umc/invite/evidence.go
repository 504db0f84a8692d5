package invite

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"umc-invite/umc"
	"umc-invite/umc/policy"
)

// evidenceReuse: how long a probe may stand in where it can only keep a user waiting.
const evidenceReuse = 30 * time.Second

// prober weighs answers by probes (two calls that mail no one); the
// latest probe serves every answer before it.
type prober struct {
	client   UMC
	slots    chan struct{} // the output's, shared with its calls
	limiter  *rate.Limiter
	gate     *gate
	now      func() time.Time
	log      *Logger
	authUser string

	mu     sync.Mutex
	at     time.Time
	last   umc.Baseline
	asked  bool
	worked bool // what the last probe said, to log changes only
	logged bool
	// A refusal in words unlike the probe's, the probe reused for: the same
	// words again before a later probe are asked about (a switch turned off).
	unlike       string
	unlikeProbed bool // a probe was asked since those words

	unauthorizedLogged atomic.Int64 // Unix ns: said once a minute
}

// evidence weighs UMC's refusal or 503 a by a probe (two calls that mail
// no one) asked after it; paced: an outage's one call a second.
func (c *prober) evidence(ctx context.Context, a umc.Answer, answered time.Time, paced bool) policy.Evidence {
	c.mu.Lock()
	defer c.mu.Unlock()
	recent := c.asked && c.now().Sub(c.at) < evidenceReuse
	if !c.at.After(answered) {
		refusal := a.Status == http.StatusBadRequest
		downSince := !c.last.Refusing() && c.at.After(c.gate.worked())
		if recent && (refusal && !(c.last.Refusing() && c.last.RefusesLikeUnknown(a)) && c.newWords(a) || !refusal && downSince) {
			// Cannot refuse anyone, or a 503 while UMC fails anyway: keep the user waiting, spare UMC.
			return weigh(c.last, a, false)
		}
		if b, ok := c.askBaseline(ctx, paced); ok {
			c.last, c.at, c.asked, c.unlikeProbed = b, c.now(), true, true
			c.logEvidence()
		} else {
			return policy.NoEvidence
		}
	}
	return weigh(c.last, a, true)
}

// newWords reports whether a refusal's words are new since the last probe:
// the same words for a second user are asked about, once per probe.
func (c *prober) newWords(a umc.Answer) bool {
	if a.Message != c.unlike {
		c.unlike, c.unlikeProbed = a.Message, false
		return true
	}
	return c.unlikeProbed
}

// weigh reads a probe for answer a; after: asked after it, as a refusal needs.
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

func (o *prober) askBaseline(ctx context.Context, paced bool) (umc.Baseline, bool) {
	select {
	case o.slots <- struct{}{}:
		defer func() { <-o.slots }()
	case <-ctx.Done():
		return umc.Baseline{}, false
	}
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

// logUnauthorized says, at most once a minute, that UMC rejects the credentials.
func (o *prober) logUnauthorized(answer string) {
	now := o.now()
	last := o.unauthorizedLogged.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < time.Minute || !o.unauthorizedLogged.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	who := "anonymous (no Auth_User)"
	if o.authUser != "" {
		who = fmt.Sprintf("Auth_User %q", o.authUser)
	}
	o.log.Errorf("UMC rejects the configured credentials, %s: %s. This is a configuration mistake that waiting will not heal: "+
		"fix Auth_User and its password (or leave both unset for anonymous calls); users stay queued, one call at a time until then", who, answer)
}

func (c *prober) logEvidence() {
	works := c.last.Refusing()
	if c.logged && works == c.worked {
		return
	}
	c.worked, c.logged = works, true
	if works {
		c.log.Infof("UMC's self-service works and refuses a user that cannot exist with: %s", c.last.Unknown.Message)
	} else {
		c.log.Warnf("UMC does not refuse a user that cannot exist as it should (%s; %s): nobody is refused while so", c.last.Unknown, c.last.Method)
	}
}

package umc

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
)

// ImpossibleUsername returns a name no UCS user can have: ":" is outside
// UDM's username syntax, and there is no "@", which UMC would look up as a
// mail address. UMC refuses it before any token is made or mail sent. It
// is random, so that two asks never share a rate-limit counter.
func ImpossibleUsername() string { return fmt.Sprintf("umc-invite-probe:%016x", rand.Uint64()) }

// MadeUpMethod returns a send_token method UMC cannot know, random as ImpossibleUsername.
func MadeUpMethod() string { return fmt.Sprintf("umc-invite-no-such-method-%016x", rand.Uint64()) }

// Baseline is how UMC refuses a user that cannot exist, asked twice: with
// the configured method, and with a method that does not exist.
type Baseline struct {
	Unknown  Answer // the configured method, an impossible user
	Method   Answer // a made-up method, an impossible user
	bogus    string
	selected string
}

// AskBaseline makes the two calls; they never mail anyone. before, if
// not nil, runs before each call (a rate limit, an outage's spacing); its
// error ends the probe unanswered.
func (c *Client) AskBaseline(ctx context.Context, before func() error) (Baseline, error) {
	b := Baseline{bogus: MadeUpMethod(), selected: c.method}
	for _, ask := range []struct {
		to     *Answer
		method string
	}{{&b.Unknown, c.method}, {&b.Method, b.bogus}} {
		if before != nil {
			if err := before(); err != nil {
				return Baseline{}, err
			}
		}
		*ask.to = c.call(ctx, ImpossibleUsername(), ask.method)
	}
	return b, nil
}

// Refusing reports whether UMC's self-service works and refuses an unknown
// user as such. UMC checks the service is on, then the method, then the user:
// the same refusal twice means it is off; the same once the made-up method's
// name is swapped for the configured one, that this one does not exist.
// Messages are compared, never read: UMC translates them.
func (b Baseline) Refusing() bool {
	u, m := b.Unknown, b.Method
	if u.Err != nil || m.Err != nil || u.Status != http.StatusBadRequest || m.Status != http.StatusBadRequest ||
		!u.FromUMC || !m.FromUMC || u.Message == "" || m.Message == "" {
		return false
	}
	return u.Message != m.Message && u.Message != strings.ReplaceAll(m.Message, b.bogus, b.selected)
}

// RefusesLikeUnknown reports whether a refusal a is UMC's refusal of a
// user it will never mail, said just as for a user that cannot exist.
func (b Baseline) RefusesLikeUnknown(a Answer) bool {
	return b.Refusing() && a.Err == nil && a.Status == b.Unknown.Status && a.FromUMC && a.Message == b.Unknown.Message
}

package umc

import (
	"context"
	"time"

	"github.com/avast/retry-go/v4"
)

// quickDelay is the first pause of the quick retries; it doubles with each
// one, with full jitter.
const quickDelay = 200 * time.Millisecond

// failed carries a failed Answer through retry-go.
type failed struct{ answer Answer }

func (f failed) Error() string { return f.answer.String() }

// SendToken asks UMC to mail username an invitation. Only a call that
// cannot have reached UMC (Outcome.QuickRetry) is tried again at once, up
// to the quick retries, while ctx allows: a reset, a timeout or a 502 may
// hide a processed call (a retry would be a second mail), a 503 may be the
// rate limit. ctx bounds the quick retries, not a call under way.
func (c *Client) SendToken(ctx context.Context, username string) Answer {
	var last Answer
	calls := 0
	// The first try is made here; retry-go is set up only after a failure.
	tried := false
	if ctx.Err() == nil {
		if last, calls = c.call(ctx, username, c.method); last.Err == nil {
			last.Calls = calls
			return last
		}
		tried = true
	}
	_, _ = retry.DoWithData(
		func() (struct{}, error) {
			if tried {
				tried = false
			} else {
				var n int
				last, n = c.call(ctx, username, c.method)
				calls += n
			}
			if last.Err == nil {
				return struct{}{}, nil
			}
			return struct{}{}, failed{last}
		},
		retry.Context(ctx),
		retry.Attempts(uint(c.quickRetries)+1),
		retry.LastErrorOnly(true),
		retry.RetryIf(func(error) bool { return ctx.Err() == nil && Classify(last).QuickRetry }),
		retry.DelayType(retry.FullJitterBackoffDelay),
		retry.Delay(quickDelay),
		retry.MaxDelay(2*time.Second),
	)
	last.Calls = calls
	return last
}

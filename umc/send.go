package umc

import (
	"context"
	"time"

	"github.com/avast/retry-go/v4"
)

const (
	// quickDelay is the first pause of the quick retries; it doubles with
	// each one, with full jitter.
	quickDelay = 200 * time.Millisecond
	// maxRetryAfter caps how long a Retry-After header may hold one flush;
	// a longer wait is left to Fluent Bit's scheduler.
	maxRetryAfter = 10 * time.Second
)

// failed carries a failed Answer through retry-go.
type failed struct{ answer Answer }

func (f failed) Error() string { return f.answer.String() }

// SendToken asks UMC to mail username an invitation. Calls UMC did not take
// (refused or reset connection, 502, 503) are tried again up to the
// configured number of quick retries while ctx allows; any other failure is
// returned at once, as is the last one. ctx bounds the quick retries, not a
// call under way.
func (c *Client) SendToken(ctx context.Context, username string) Answer {
	var last Answer
	calls := 0
	_, _ = retry.DoWithData(
		func() (struct{}, error) {
			calls++
			last = c.once(ctx, username)
			if last.Delivered() {
				return struct{}{}, nil
			}
			return struct{}{}, failed{last}
		},
		retry.Context(ctx),
		retry.Attempts(uint(c.quickRetries)+1),
		retry.LastErrorOnly(true),
		retry.RetryIf(func(error) bool { return worthQuickRetry(ctx, last) }),
		retry.DelayType(func(n uint, _ error, cfg *retry.Config) time.Duration {
			if last.RetryAfter > 0 {
				return last.RetryAfter
			}
			return retry.FullJitterBackoffDelay(n, nil, cfg)
		}),
		retry.Delay(quickDelay),
		retry.MaxDelay(maxRetryAfter),
	)
	last.Calls = calls
	return last
}

// worthQuickRetry: only calls UMC did not take, and only when a Retry-After
// wait still fits into the flush.
func worthQuickRetry(ctx context.Context, a Answer) bool {
	if !a.quickRetryable() || ctx.Err() != nil {
		return false
	}
	if a.RetryAfter > maxRetryAfter {
		return false
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < a.RetryAfter {
		return false
	}
	return true
}

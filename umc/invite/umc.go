package invite

import (
	"context"

	"umc-invite/umc"
)

// UMC is what the sender asks of UMC: one user's send_token call, and the
// evidence probe's two calls that mail no one. *umc.Client is the real
// one; tests answer without HTTP.
type UMC interface {
	SendToken(ctx context.Context, username string) umc.Answer
	// AskBaseline runs before, if not nil, before each of its calls; its
	// error ends the probe unanswered.
	AskBaseline(ctx context.Context, before func() error) (umc.Baseline, error)
	Close()
}

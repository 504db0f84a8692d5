package invite

import (
	"context"

	"umc-invite/umc"
)

// UMC is what the sender asks of UMC: one user's send_token call, and the
// probe's two calls that mail no one. Tests answer without HTTP.
type UMC interface {
	SendToken(ctx context.Context, username string) umc.Answer
	// AskBaseline runs before (if set) before each call; its error ends it.
	AskBaseline(ctx context.Context, before func() error) (umc.Baseline, error)
	Close()
}

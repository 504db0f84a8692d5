package probe

import (
	"context"
	"fmt"
	"net/http"

	"umc-invite/umc/config"
)

// Invite makes exactly one real send_token call for username, as the
// plugin would, and passes only on UMC's 200: a user UMC mailed. It is
// the end-to-end check of a deployment (UMC, its self-service and its
// SMTP relay), for a test user the operator names; it invites that user.
func Invite(ctx context.Context, cfg *config.Config, username string) Result {
	a, err := call(ctx, cfg, cfg.Method, username)
	if err != nil {
		return Result{"invite", Fail, err.Error()}
	}
	endpoint := cfg.Endpoint()
	switch {
	case a.Err != nil:
		return Result{"invite", Fail, fmt.Sprintf("POST %s: %s: no answer; run umc-invite probe", endpoint, a)}
	case a.Status == http.StatusOK:
		return Result{"invite", OK, fmt.Sprintf("UMC answered 200 for %q: it sent the invitation (check that the mail arrives)", username)}
	case !a.FromUMC:
		return Result{"invite", Fail, fmt.Sprintf("POST %s: HTTP %d without UMC's JSON body: run umc-invite probe", endpoint, a.Status)}
	case a.Status == http.StatusUnauthorized || a.Status == http.StatusForbidden && a.Message != "Username too long":
		return Result{"invite", Fail, refusal(cfg, a)}
	case a.Status == http.StatusBadRequest:
		return Result{"invite", Fail, fmt.Sprintf("HTTP 400 %q: UMC mails no one for %q: the user is unknown, has no PasswordRecoveryEmail, "+
			"is outside the self-service's groups, or the password reset or its e-mail method is off", a.Message, username)}
	case a.Status >= 500:
		return Result{"invite", Fail, fmt.Sprintf("HTTP %d %q: UMC could not send it; a message about the mail server means Nubus has no working SMTP "+
			"(nubusStackDataUms.stackDataContext.smtpHost and friends, nubusUmcServer.smtp)", a.Status, a.Message)}
	}
	return Result{"invite", Fail, fmt.Sprintf("POST %s: %s", endpoint, a)}
}

package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func inviteRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runInvite(args, &out, &errOut)
	t.Log("\n" + out.String() + errOut.String())
	return out.String() + errOut.String(), code
}

// The opt-in helm test: one real invitation for the named user, and only
// UMC's 200 passes.
func TestInviteSendsOneInvitationAndPassesOnlyOn200(t *testing.T) {
	u := newUMC()
	srv := httptest.NewServer(u)
	defer srv.Close()
	conf := write(t, "[OUTPUT]\n    Name umc_invite\n    UMC_URL "+srv.URL+"/univention\n    Retry_Limit 5\n")

	out, code := inviteRun(t, "-c", conf, "alice")
	if code != 0 || !strings.Contains(out, "UMC answered 200") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if got := u.stub.Delivered()["alice"]; got != 1 {
		t.Errorf("alice invited %d times, want 1", got)
	}

	out, code = inviteRun(t, "-c", conf, "nobody")
	if code != 1 || !strings.Contains(out, "HTTP 400") || !strings.Contains(out, "PasswordRecoveryEmail") {
		t.Fatalf("an unknown user: exit %d:\n%s", code, out)
	}
	if n := len(u.stub.Calls()); n != 2 {
		t.Errorf("%d calls, want one per run", n)
	}
}

func TestInviteFailsWhenUMCRefusesTheCredentials(t *testing.T) {
	u := newUMC()
	srv := httptest.NewServer(u)
	defer srv.Close()
	pw := passwordFile(t, "wrong")
	out, code := inviteRun(t, "--umc-url", srv.URL+"/univention", "--auth-user", "svc", "--auth-password-file", pw, "alice")
	if code != 1 || !strings.Contains(out, "HTTP 401") || !strings.Contains(out, `Auth_User "svc"`) || !strings.Contains(out, pw) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if len(u.stub.Delivered()) != 0 {
		t.Error("a user was invited with refused credentials")
	}
}

// A mail relay that fails: UMC's 500 names Nubus's SMTP values.
func TestInviteNamesNubusSMTPOnAFailedMail(t *testing.T) {
	u := newUMC()
	u.stub.Fail = func(string, int) int { return http.StatusInternalServerError }
	srv := httptest.NewServer(u)
	defer srv.Close()
	out, code := inviteRun(t, "--umc-url", srv.URL+"/univention", "alice")
	if code != 1 || !strings.Contains(out, "smtpHost") || !strings.Contains(out, "nubusUmcServer.smtp") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestInviteRefusesBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--umc-url", "http://127.0.0.1:1/univention"},                 // no user
		{"--umc-url", "http://127.0.0.1:1/univention", "a b"},          // white space
		{"--umc-url", "http://127.0.0.1:1/univention", "alice", "bob"}, // two users
		{"alice"}, // no config
		{"-c", write(t, "[OUTPUT]\n    Name umc_invite\n    UMC_URL http://a/univention\n[OUTPUT]\n    Name umc_invite\n    UMC_URL http://b/univention\n"), "alice"}, // two outputs
	} {
		if out, code := inviteRun(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d:\n%s", args, code, exitUsage, out)
		}
	}
}

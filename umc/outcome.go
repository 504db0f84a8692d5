package umc

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"syscall"

	"umc-invite/umc/policy"
)

// Outcome is the classification of one answer: what it means, why, and
// whether trying again at once is safe.
type Outcome struct {
	Kind   policy.Kind
	Reason string
	// QuickRetry: the call cannot have reached UMC (refused connection,
	// name resolution, TLS handshake), so an immediate retry cannot make a
	// duplicate or count against a rate limit.
	QuickRetry bool
}

// Classify is the one place an answer is given a meaning. It reads the
// status and whether a 200 carried UMC's JSON; never the message text,
// which UMC translates.
func Classify(a Answer) Outcome {
	if a.Err != nil {
		return Outcome{Kind: policy.Unavailable, Reason: a.String(), QuickRetry: unreached(a.Err)}
	}
	s := a.Status
	switch {
	case s == http.StatusOK && a.FromUMC:
		return Outcome{Kind: policy.Served, Reason: "HTTP 200"}
	case s == http.StatusOK && a.BodyCut:
		// The token is stored and the mail handed on before UMC writes
		// its answer: calling again would send a second mail whose link
		// kills the first.
		return Outcome{Kind: policy.Served, Reason: "HTTP 200, its JSON body cut short: UMC took the call"}
	case s == http.StatusOK:
		return Outcome{Kind: policy.Unavailable, Reason: "HTTP 200 without UMC's JSON body (UMC_URL points at something that is not UMC: a proxy, a login page, an ingress)"}
	case s == http.StatusBadRequest:
		// An unknown, blacklisted or address-less user, or the backend
		// switched off.
		return Outcome{Kind: policy.Refusal, Reason: a.String()}
	case s == http.StatusUnauthorized, s == http.StatusForbidden:
		// The configured credentials, or anonymity, rejected (a name over
		// UMC's 403 limit never reaches UMC: it is bad input).
		return Outcome{Kind: policy.Unauthorized, Reason: a.String()}
	case s == http.StatusInternalServerError, s >= 590 && s <= 592:
		return Outcome{Kind: policy.Failure, Reason: a.String()}
	}
	// 3xx, 404, 405/406/411/422 (a client bug), 502, 503 (also UMC's
	// rate limit: a retry would extend the lockout), anything else.
	return Outcome{Kind: policy.Unavailable, Reason: a.String()}
}

// unreached reports errors that prove the request never reached UMC's
// application: nothing listening, no such host, no TLS session. A reset or
// a timeout proves nothing: UMC may have processed the call.
func unreached(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var recordErr tls.RecordHeaderError
	var certErr *tls.CertificateVerificationError
	var alert tls.AlertError
	return errors.As(err, &recordErr) || errors.As(err, &certErr) || errors.As(err, &alert)
}

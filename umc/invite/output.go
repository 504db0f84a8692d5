// Package invite is one umc_invite output instance: it turns the records of
// a chunk into send_token calls and decides what Fluent Bit is told.
package invite

import (
	"fmt"
	"os"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/config"
	"umc-invite/umc/ledger"
	"umc-invite/umc/queue"
)

// The ledger's bounds: far more records than a chunk holds, kept far longer
// than Fluent Bit's retries of one chunk take.
const (
	ledgerSize = 50_000
	ledgerTTL  = 24 * time.Hour
)

// Output is one [OUTPUT] section of umc_invite. Flush is safe for
// concurrent use by Fluent Bit's workers.
type Output struct {
	cfg     *config.Config
	client  *umc.Client
	ledger  *ledger.Ledger
	queue   *queue.Dir         // nil without Queue_Dir
	dead    *queue.DeadLetters // nil: dead letters are only logged
	witness witness
	log     *Logger
}

// New builds an Output from a checked Config.
func New(cfg *config.Config, log *Logger) (*Output, error) {
	client, err := umc.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	o := &Output{cfg: cfg, client: client, ledger: newLedger(), log: log}
	// Find out now, not at the first delivery or dead letter, that the
	// directories cannot be written.
	if cfg.QueueDir != "" {
		if o.queue, err = queue.Open(cfg.QueueDir); err != nil {
			return nil, fmt.Errorf("%s: %w", "Queue_Dir", err)
		}
		if err := queue.Writable(cfg.QueueDir); err != nil {
			return nil, fmt.Errorf("%s: %w", "Queue_Dir", err)
		}
	}
	if cfg.DeadLetterDir != "" {
		if err := os.MkdirAll(cfg.DeadLetterDir, 0o750); err != nil {
			return nil, fmt.Errorf("%s: %w", "Dead_Letter_Dir", err)
		}
		if err := queue.Writable(cfg.DeadLetterDir); err != nil {
			return nil, fmt.Errorf("%s: %w", "Dead_Letter_Dir", err)
		}
		o.dead = queue.NewDeadLetters(cfg.DeadLetterDir)
	}
	return o, nil
}

// Describe is the start-up line: the settings that matter, never a secret.
func (o *Output) Describe() string {
	auth := "anonymous"
	if o.cfg.AuthUser != "" {
		auth = "basic auth as " + o.cfg.AuthUser
	}
	dead := "log only (set Queue_Dir or Dead_Letter_Dir)"
	if o.dead != nil {
		dead = o.dead.Dir()
	}
	return fmt.Sprintf("sending to %s (%s, TLS verify %t), concurrency %d, max attempts %d, queue %q, dead letters: %s",
		o.cfg.Endpoint(), auth, o.cfg.TLSVerify, o.cfg.Concurrency, o.cfg.MaxAttempts, o.cfg.QueueDir, dead)
}

// Close releases idle connections.
func (o *Output) Close() { o.client.Close() }

// Logger is the instance's logger, for the plugin layer's own lines.
func (o *Output) Logger() *Logger { return o.log }

func newLedger() *ledger.Ledger { return ledger.New(ledgerSize, ledgerTTL) }

package invite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/config"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// A queue file of one carried-over line keeps its age across a restart,
// whether its key is written escaped (\u0066irst_seen), plainly, or the
// line reaches the output parsed by tail into fields: a user older than
// Max_Age is not called but expires.
func TestACarriedOneLineFileKeepsItsAgeHoweverItsKeyIsWritten(t *testing.T) {
	for _, c := range []struct {
		name, key string
		parsed    bool
	}{
		{"plain key", "first_seen", false},
		{"escaped key", `\u0066irst_seen`, false},
		{"escaped in full", `\u0066\u0069\u0072\u0073\u0074\u005f\u0073\u0065\u0065\u006e`, false},
		{"parsed by tail", "first_seen", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			fake := &fakeUMC{answer: func(string, int) umc.Answer { return served() }}
			f := newFakeFixture(t, fake, config.Map{"Max_Age": "1h"})
			seen := f.now().Add(-3 * time.Hour).UTC().Format(time.RFC3339)
			line := fmt.Sprintf(`{"username":"alice","%s":%q,"last_answer":"HTTP 503"}`, c.key, seen)
			path := filepath.Join(f.queue, "alice.send")
			if err := os.WriteFile(path, []byte(line+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			fields := map[any]any{"log": []byte(line), "path": []byte(path), "offset": int64(0)}
			if c.parsed {
				fields = map[any]any{"username": "alice", "first_seen": seen, "last_answer": "HTTP 503", "path": []byte(path), "offset": int64(0)}
			}
			f.out.Flush(context.Background(), []record.Record{record.New("umc_invite", time.Unix(1700000000, 0), fields)})
			if n := fake.called("alice"); n != 0 {
				t.Errorf("alice, first seen 3h ago with Max_Age 1h, was called %d times: her carried age was lost", n)
			}
			letters := f.deadLetters(t)
			if len(letters) != 1 || letters[0].Kind != spool.KindExpired {
				t.Errorf("dead letters %+v, want alice expired", letters)
			}
		})
	}
}

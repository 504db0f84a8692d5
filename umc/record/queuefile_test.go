package record

import (
	"strings"
	"testing"
)

// The name of a long uid's queue file is the listener module's, byte for
// byte (the values were computed by the module's queue_filename), so that
// a requeue finds a file the module queued, and it always fits.
func TestALongUidsQueueFileNameIsTheListenerModules(t *testing.T) {
	cases := []struct{ user, want string }{
		{"alice", "alice.send"},
		{strings.Repeat("a", 195), strings.Repeat("a", 195) + ".send"},
		{strings.Repeat("a", 196), strings.Repeat("a", 178) + "-96b864ee9e10a31f.send"},
		{"x" + strings.Repeat("ü", 100), "x" + strings.Repeat("ü", 88) + "-e3c8a8686fe1efc9.send"},
	}
	for _, tc := range cases {
		got := QueueFileName(tc.user)
		if got != tc.want {
			t.Errorf("%d-byte user: %q, want %q", len(tc.user), got, tc.want)
		}
		if len(got) > MaxQueueFileName {
			t.Errorf("%d-byte user: %d-byte name", len(tc.user), len(got))
		}
	}
}

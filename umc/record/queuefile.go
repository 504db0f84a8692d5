package record

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"
)

// MaxQueueFileName is the longest queue file name: a producer's hidden
// temporary name made from it stays within NAME_MAX.
const MaxQueueFileName = 200

// QueueFileName is user's queue file name as the listener module names it:
// <user>.send, or if too long <prefix>-<16 hex of sha256(user)>.send.
func QueueFileName(user string) string {
	if len(user)+len(QueueSuffix) <= MaxQueueFileName {
		return user + QueueSuffix
	}
	sum := sha256.Sum256([]byte(user))
	tail := "-" + hex.EncodeToString(sum[:8]) + QueueSuffix
	prefix := user[:MaxQueueFileName-len(tail)]
	for len(prefix) > 0 && !utf8.ValidString(prefix) {
		prefix = prefix[:len(prefix)-1] // a character cut in two is left out
	}
	return prefix + tail
}

package record

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"
)

// MaxQueueFileName is the longest queue file name a producer writes: the
// hidden names made from it (a producer's temporary file) stay within
// NAME_MAX (255 bytes).
const MaxQueueFileName = 200

// QueueFileName is the queue file name of user, as the listener module
// names it: <user>.send, or, where that is longer than MaxQueueFileName
// bytes, <user prefix>-<first 16 hex of sha256(user)>.send. The plugin
// takes the user from the file's JSON line, never from such a name.
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

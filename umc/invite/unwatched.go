package invite

import (
	"strings"

	"umc-invite/umc/logtext"
)

// unwatchedShown is how many unwatched names one start names in its log.
const unwatchedShown = 10

// warnUnwatched names the files tail never reads: a control character in the name.
func (o applier) warnUnwatched() {
	names, err := o.queue.Unwatched()
	if err != nil {
		o.log.Warnf("queue %s: looking for names tail does not watch: %v", logtext.Quote(o.queue.Root()), err)
	}
	if len(names) == 0 {
		return
	}
	quoted := make([]string, 0, unwatchedShown)
	for _, name := range names[:min(len(names), unwatchedShown)] {
		quoted = append(quoted, logtext.Quote(name))
	}
	more := ""
	if len(names) > unwatchedShown {
		more = " and others"
	}
	o.log.Warnf("queue %s: %d file(s) whose name holds a control character (a newline), which tail does not watch (Exclude_Path), so they are never sent: %s%s; a user's file is named <uid>.send",
		logtext.Quote(o.queue.Root()), len(names), strings.Join(quoted, ", "), more)
}

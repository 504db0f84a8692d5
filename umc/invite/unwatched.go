package invite

import "umc-invite/umc/logtext"

// warnUnwatched names the files tail never reads: a control character in the name.
func (o applier) warnUnwatched() {
	names, err := o.queue.Unwatched()
	if err != nil {
		o.log.Warnf("queue %s: looking for names tail does not watch: %v", logtext.Quote(o.queue.Root()), err)
	}
	if len(names) == 0 {
		return
	}
	quoted := make([]string, len(names))
	for i, name := range names {
		quoted[i] = logtext.Quote(name)
	}
	o.log.Warnf("queue %s: %d file(s) whose name holds a control character (a newline), which tail does not watch (Exclude_Path), so they are never sent: %s; a user's file is named <uid>.send",
		logtext.Quote(o.queue.Root()), len(names), shortList(quoted))
}

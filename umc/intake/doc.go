// Package intake bounds how many queue files Fluent Bit's tail watches.
//
// tail keeps every file matching its Path open with its own buffers (about
// 25 KB each), so a bulk import of tens of thousands of users would cost
// hundreds of MB. Producers therefore write into an intake directory, and a
// Window admits the oldest intake files into the queue directory by an
// atomic rename, keeping at most Size files there. Files written straight
// into the queue directory still work and count against the window.
//
// The package needs Linux: renameat2(RENAME_NOREPLACE) and inotify.
package intake

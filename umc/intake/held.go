//go:build linux

package intake

import "umc-invite/umc/dirhandle"

// IntakeHandle is the intake directory as held, for comparing it with
// other directories by identity; it stays the window's: do not close it.
func (w *Window) IntakeHandle() *dirhandle.Dir { return w.in }

//go:build linux

package intake

import "umc-invite/umc/spool"

// IntakeHandle is the intake directory as held, for comparing it with
// other directories by identity; it stays the window's: do not close it.
func (w *Window) IntakeHandle() *spool.Dir { return w.in }

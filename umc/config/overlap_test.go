package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// Directories that overlap are refused at start, with
// both names: the dead letters in the queue (tail would read a moved file
// again, the requeue tool would find its letters among the queue files)
// or in the intake (admitted again), the intake being the queue, and any
// of them holding another. The queue directory may hold the others (the
// defaults failed/ and incoming/ are in it; tail does not descend).
func TestOverlappingDirectoriesAreRefusedWithBothNames(t *testing.T) {
	q := t.TempDir()
	other := t.TempDir()
	for _, c := range []struct {
		name       string
		dead, in   string
		refused    bool
		namesFirst string // the key the error is reported for
	}{
		{"defaults", "", "", false, ""},
		{"elsewhere", filepath.Join(other, "dead"), filepath.Join(other, "in"), false, ""},
		{"dead letters in the queue itself", q, "", true, "Dead_Letter_Dir"},
		{"dead letters in the queue, spelt otherwise", q + "/./", "", true, "Dead_Letter_Dir"},
		{"dead letters are the intake", filepath.Join(other, "x"), filepath.Join(other, "x"), true, "Intake_Dir"},
		{"dead letters inside the intake", filepath.Join(other, "in", "failed"), filepath.Join(other, "in"), true, "Intake_Dir"},
		{"intake inside the dead letters", filepath.Join(other, "dead"), filepath.Join(other, "dead", "in"), true, "Intake_Dir"},
		{"dead letters hold the queue", filepath.Dir(q), "", true, "Dead_Letter_Dir"},
		{"the intake holds the queue", "", filepath.Dir(q), true, "Intake_Dir"},
		{"the intake is the queue", "", q, true, "Intake_Dir"},
		{"the intake is the default dead letters", "", filepath.Join(q, "failed"), true, "Intake_Dir"},
	} {
		m := Map{"UMC_URL": "http://umc", "Queue_Dir": q}
		if c.dead != "" {
			m["Dead_Letter_Dir"] = c.dead
		}
		if c.in != "" {
			m["Intake_Dir"] = c.in
		}
		_, err := load(t, m)
		switch {
		case !c.refused && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.refused && err == nil:
			t.Errorf("%s: accepted", c.name)
		case c.refused && (!strings.HasPrefix(err.Error(), c.namesFirst+": ") || strings.Count(err.Error(), filepath.Dir(filepath.Dir(q))) < 2):
			t.Errorf("%s: %v; want it reported for %s naming both directories", c.name, err, c.namesFirst)
		}
	}
}

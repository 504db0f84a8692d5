package config

import (
	"fmt"
	"path/filepath"
	"strings"
)

// checkDirectories refuses directories that overlap, naming both: each of
// Queue_Dir, Dead_Letter_Dir and Intake_Dir must be a directory of its
// own, and neither the dead letters nor the intake may hold another of
// them. The queue directory may hold the other two (the defaults failed/
// and incoming/ are in it): tail reads only its *.send files, not below.
// Paths are compared as written, made absolute; the queue package resolves
// them once at start and compares what it opened.
func (c *Config) checkDirectories() error {
	type dir struct{ key, path string }
	dirs := []dir{{"Queue_Dir", c.QueueDir}, {"Dead_Letter_Dir", c.DeadLetterDir}, {"Intake_Dir", c.IntakeDir}}
	for i, a := range dirs {
		for _, b := range dirs[i+1:] {
			if a.path == "" || b.path == "" {
				continue
			}
			switch {
			case a.path == b.path:
				return &KeyError{b.key, fmt.Errorf("%s is %s %s: each must be a directory of its own", b.path, a.key, a.path)}
			case inside(b.path, a.path) && a.key != "Queue_Dir":
				return &KeyError{b.key, fmt.Errorf("%s is inside %s %s: each must be a directory of its own", b.path, a.key, a.path)}
			case inside(a.path, b.path):
				return &KeyError{b.key, fmt.Errorf("%s holds %s %s: each must be a directory of its own", b.path, a.key, a.path)}
			}
		}
	}
	return nil
}

// inside reports whether path lies below dir (both clean and absolute).
func inside(path, dir string) bool {
	return strings.HasPrefix(path, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

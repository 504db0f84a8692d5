package invite

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"umc-invite/umc/logtext"
)

// claimedDir is one directory an output of this process works in, as
// opened (symlinks resolved once, at start).
type claimedDir struct{ key, path string }

// dirsInUse are the directories of this process's outputs (the DaemonSet:
// one [OUTPUT] per tenant), keyed by the output that holds them.
var dirsInUse = struct {
	sync.Mutex
	by map[*Output]claim
}{by: map[*Output]claim{}}

type claim struct {
	name string
	dirs []claimedDir
}

// claimDirs makes dirs o's own in this process. No directory of one output
// may be, hold or lie inside a directory of another: one output's dead
// letters or intake in another's queue would hand one tenant's users to
// another tenant's UMC, or take them from it; two outputs on one queue
// would send each file twice. The error names both outputs and both
// directories.
func claimDirs(o *Output, name string, dirs []claimedDir) error {
	dirsInUse.Lock()
	defer dirsInUse.Unlock()
	for other, c := range dirsInUse.by {
		if other == o {
			continue
		}
		for _, mine := range dirs {
			for _, theirs := range c.dirs {
				how := ""
				switch {
				case mine.path == theirs.path:
					how = "is"
				case within(mine.path, theirs.path):
					how = "is inside"
				case within(theirs.path, mine.path):
					how = "holds"
				default:
					continue
				}
				return fmt.Errorf("%s %s of output %s %s %s %s of output %s: the directories of two umc_invite outputs must be apart, "+
					"or one tenant's files reach the other's queue", mine.key, logtext.Quote(mine.path), logtext.Quote(name), how,
					theirs.key, logtext.Quote(theirs.path), logtext.Quote(c.name))
			}
		}
	}
	dirsInUse.by[o] = claim{name: name, dirs: dirs}
	return nil
}

func releaseDirs(o *Output) {
	dirsInUse.Lock()
	defer dirsInUse.Unlock()
	delete(dirsInUse.by, o)
}

// within reports whether path lies below dir (both clean and absolute).
func within(path, dir string) bool {
	return strings.HasPrefix(path, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

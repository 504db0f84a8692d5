//go:build linux

package dirhandle

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ID is a directory's identity on disk: one directory has one ID however
// it is named (symlinks, bind mounts).
type ID struct{ Dev, Ino uint64 }

func (id ID) String() string { return fmt.Sprintf("device %d inode %d", id.Dev, id.Ino) }

// ID is the held directory's identity, as opened.
func (d *Dir) ID() ID { return ID{d.dev, d.ino} }

// maxDepth bounds the walk up from a directory.
const maxDepth = 256

// Above lists the directories that hold d, its parent first, up to the
// root, each reached from the one below by "..": the held directory's
// place now, whatever path led to it. Where a parent cannot be looked at
// (no search permission) the list stops there.
func (d *Dir) Above() []ID {
	var ids []ID
	fd, own := d.fd, false
	defer func() {
		if own {
			unix.Close(fd)
		}
	}()
	cur := d.ID()
	for range maxDepth {
		parent, err := unix.Openat(fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return ids
		}
		if own {
			unix.Close(fd)
		}
		fd, own = parent, true
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return ids
		}
		id := ID{uint64(st.Dev), st.Ino}
		if id == cur { // the root is its own parent
			return ids
		}
		ids, cur = append(ids, id), id
	}
	return ids
}

// AtPath is the identity of the directory at d's configured path now,
// its symlinks followed as Fluent Bit's tail follows them: whether d is
// still the directory its path names, or was renamed away or replaced
// under the plugin. It only looks; nothing is reached through the path.
func (d *Dir) AtPath() (ID, error) {
	var st unix.Stat_t
	if err := unix.Stat(d.Configured, &st); err != nil {
		return ID{}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return ID{}, unix.ENOTDIR
	}
	return ID{uint64(st.Dev), st.Ino}, nil
}

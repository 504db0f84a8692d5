package queue

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// MaxFileSize caps what Read takes of a queue file: one user's line and a
// few carried-over lines are far below it.
const MaxFileSize = 64 << 10

// ErrGrown marks a queue file that grew after it was looked at: somebody
// appended to it, and removing it would take their lines along unread.
var ErrGrown = errors.New("queue file grew since it was read")

// ErrTooBig marks a queue file over MaxFileSize: no one user's file.
var ErrTooBig = errors.New("queue file is too big to be one user's")

// Read returns the file's contents, at most MaxFileSize bytes, as long as
// f is still the file at its path.
func (d *Dir) Read(f File) ([]byte, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("read queue file: %w", err)
	}
	defer fh.Close()
	if err := sameInode(fh, f); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read queue file: %w", err)
	}
	if len(data) > MaxFileSize {
		return data[:MaxFileSize], fmt.Errorf("%s is over %d bytes: %w", f.Path, MaxFileSize, ErrTooBig)
	}
	return data, nil
}

// Carry adds line to the file, so that tail reads it as a new record, and
// returns the file that now holds it. It appends (Append); when the file
// is not writable for this process (a producer wrote it 0644 as another
// user), it writes a copy with the line added under a hidden name and
// renames it over the file, which needs only the directory's write
// permission: tail reads the replacement as a new file, from its head.
func (d *Dir) Carry(f File, line []byte) (File, error) {
	err := d.Append(f, line)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return f, err
	}
	replaced, rerr := d.replaceWith(f, line)
	if rerr != nil {
		return f, fmt.Errorf("%w; replacing it: %w", err, rerr)
	}
	return replaced, nil
}

func (d *Dir) replaceWith(f File, line []byte) (File, error) {
	old, err := d.Read(f)
	if err != nil {
		return File{}, err
	}
	if int64(len(old)) != f.Size {
		return File{}, fmt.Errorf("%s: %w", f.Path, ErrGrown)
	}
	if len(old) > 0 && !bytes.HasSuffix(old, []byte("\n")) {
		return File{}, fmt.Errorf("%s: its last line has no newline", f.Path)
	}
	// A hidden name without .send: tail and the plugin pass it by.
	tmp, err := os.CreateTemp(d.root, "."+filepath.Base(f.Path)+".carry-*")
	if err != nil {
		return File{}, fmt.Errorf("carry-over copy: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	_, err = tmp.Write(append(old, line...))
	if err == nil {
		err = tmp.Chmod(0o664)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, fmt.Errorf("carry-over copy: %w", err)
	}
	// Only over the file that was read: a re-queued file took its place
	// otherwise, and it stays.
	if same, err := d.Current(f); err != nil || !same {
		if err == nil {
			err = fmt.Errorf("%s was replaced meanwhile: %w", f.Path, fs.ErrNotExist)
		}
		return File{}, err
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return File{}, fmt.Errorf("carry-over copy: %w", err)
	}
	if err := syncDir(d.root); err != nil {
		return File{}, err
	}
	return statFile(f.Path)
}

func sameInode(fh *os.File, f File) error {
	st, err := statOf(fh)
	if err != nil {
		return err
	}
	if st.Dev != f.Dev || st.Ino != f.Ino {
		return fmt.Errorf("queue file %s was replaced by another: %w", f.Path, fs.ErrNotExist)
	}
	return nil
}

//go:build linux

package intake

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A producer that swaps a checked intake file for a symlink (to a file
// it may not read) at any moment gets nothing but regular files holding
// what it wrote into the queue: the intake admits the inode it checked,
// never a name looked up twice. The swapper races the admission thousands
// of times; on each turn the queue is inspected.
func TestASymlinkSwappedInAfterTheCheckNeverReachesTheQueue(t *testing.T) {
	for _, linkMode := range []bool{false, true} {
		t.Run(map[bool]string{false: "rename", true: "link"}[linkMode], func(t *testing.T) {
			queue, intake := dirs(t)
			w := open(t, queue, intake, 1000)
			w.adm.linkMode = linkMode
			secret := []byte("TARGET-CONTENT\n")
			target := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(target, secret, 0o600); err != nil {
				t.Fatal(err)
			}
			entry := filepath.Join(intake, "u.send")
			link, file := filepath.Join(intake, ".link"), filepath.Join(intake, ".file")

			const want = 2000
			var swaps atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					// A regular file, then a symlink, each put in place atomically.
					if os.WriteFile(file, []byte("{\"username\": \"u\"}\n"), 0o644) == nil && os.Rename(file, entry) == nil {
						swaps.Add(1)
					}
					if os.Symlink(target, link) == nil && os.Rename(link, entry) == nil {
						swaps.Add(1)
					}
					os.Remove(link)
				}
			}()
			defer func() { close(stop); wg.Wait() }()

			admitted, attempts := 0, 0
			deadline := time.Now().Add(2 * time.Minute)
			for swaps.Load() < want || attempts < want {
				if time.Now().After(deadline) {
					t.Fatalf("only %d swaps and %d admissions tried in time", swaps.Load(), attempts)
				}
				attempts++
				_ = w.adm.move("u.send")
				ents, err := os.ReadDir(queue)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range ents {
					path := filepath.Join(queue, e.Name())
					st, err := os.Lstat(path)
					if err != nil || st.IsDir() {
						continue
					}
					if !st.Mode().IsRegular() {
						t.Fatalf("after %d swaps: %s in the queue is a %v", swaps.Load(), e.Name(), st.Mode().Type())
					}
					if data, _ := os.ReadFile(path); bytes.Contains(data, secret) {
						t.Fatalf("after %d swaps: %s in the queue holds the symlink target's content", swaps.Load(), e.Name())
					}
					if e.Name() == "u.send" {
						admitted++
						os.Remove(path)
					}
				}
			}
			if admitted == 0 {
				t.Fatalf("%d swaps, %d tries: nothing admitted at all", swaps.Load(), attempts)
			}
			t.Logf("%d swaps, %d tries, %d admitted", swaps.Load(), attempts, admitted)
		})
	}
}

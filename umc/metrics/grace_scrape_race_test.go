package metrics

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// Outputs leave while Prometheus scrapes: each time the last one goes,
// the grace period ends and the endpoint closes. It must close every
// time; a close that never ends holds the registry's lock, and with it
// every later Attach and Detach of the process (a hot reload, Fluent
// Bit's exit). Run in a child process, which a hang cannot take down
// with the package's other tests.
func TestTheEndpointClosesWhileScrapesArriveAsTheGracePeriodEnds(t *testing.T) {
	if os.Getenv("UMC_METRICS_GRACE_CHILD") == "1" {
		graceEndsUnderScrapes()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestTheEndpointClosesWhileScrapesArriveAsTheGracePeriodEnds$", "-test.count=1")
	cmd.Env = append(os.Environ(), "UMC_METRICS_GRACE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the endpoint did not close (%v):\n%s", err, out)
	}
}

// graceEndsUnderScrapes attaches and detaches an output 200 times under
// eight scrapers; it exits 3 the first time the endpoint does not close
// within 3 s.
func graceEndsUnderScrapes() {
	state.mu.Lock()
	grace = time.Millisecond
	state.mu.Unlock()
	t := &testing.T{}
	for i := range 200 {
		addr := umctest.FreeAddr(t)
		o, err := Attach(fmt.Sprintf("race_%d", i), addr, nil)
		if err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := net.Dial("tcp", addr)
					if err != nil {
						return
					}
					_ = c.SetDeadline(time.Now().Add(2 * time.Second))
					_, _ = io.WriteString(c, "GET /metrics HTTP/1.1\r\n\r\n")
					_, _ = io.ReadAll(c)
					c.Close()
				}
			})
		}
		time.Sleep(5 * time.Millisecond)
		state.mu.Lock()
		l := state.listeners[addr]
		state.mu.Unlock()
		o.Detach()
		select {
		case <-l.done:
		case <-time.After(3 * time.Second):
			fmt.Printf("attach %d: the endpoint at %s did not close within 3 s of its grace period's end: its close waits for a scrape that waits for the registry's lock the close holds\n", i, addr)
			os.Exit(3)
		}
		close(stop)
		wg.Wait()
	}
}

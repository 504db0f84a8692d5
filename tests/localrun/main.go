// Command localrun is `make run`: it starts the UMC stand-in on loopback,
// drops a few queue files into a temporary directory and runs the plugin
// on them with the shipped fluent-bit.conf, printing each UMC call. With
// no fluent-bit binary it says so and drives the same .so through the C
// test host instead, the way Fluent Bit's Go proxy would.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"umc-invite/tests/chunk"
	"umc-invite/tests/fluentbit"
	"umc-invite/tests/umctest"
	"umc-invite/umc/spool"
)

// The embedded default: one queue file of each form the plugin reads, and
// one it must refuse.
var queueFiles = []struct{ name, content string }{
	{"alice.send", `{"username": "alice"}` + "\n"}, // what build/listener writes
	{"bob.send", "bob\n"},                          // a bare username
	{"carol.send", "\n"},                           // empty line: the file name is the username
	{"broken.send", `{"username": ` + "\n"},        // malformed: becomes a dead letter
}

func main() {
	plugin := flag.String("plugin", "build/out_umc_invite.so", "the built plugin")
	config := flag.String("config", "fluent-bit.conf", "the Fluent Bit config to run")
	host := flag.String("host-source", "tests/abi/chost/host.c", "C test host, used when there is no fluent-bit")
	wait := flag.Duration("wait", 15*time.Second, "how long to wait for the queue to empty")
	flag.Parse()
	if err := run(*plugin, *config, *host, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

func run(plugin, config, hostSource string, wait time.Duration) error {
	work, err := os.MkdirTemp("", "umc-invite-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	queue := filepath.Join(work, "queue")
	if err := os.MkdirAll(queue, 0o755); err != nil {
		return err
	}
	base, stop, err := startStub()
	if err != nil {
		return err
	}
	defer stop()
	for _, f := range queueFiles {
		if err := os.WriteFile(filepath.Join(queue, f.name), []byte(f.content), 0o644); err != nil {
			return err
		}
		fmt.Printf("queued   %s: %q\n", f.name, f.content)
	}

	bin, err := fluentbit.Binary()
	if errors.Is(err, fluentbit.ErrNotFound) {
		fmt.Printf("\n%v.\nRunning the plugin through the C test host instead (no tail input, no scheduler).\n\n", err)
		err = runWithHost(plugin, hostSource, base, queue, work)
	} else if err == nil {
		err = runWithFluentBit(bin, plugin, config, base, queue, work, wait)
	}
	if err != nil {
		return err
	}
	left, _ := filepath.Glob(filepath.Join(queue, "*.send"))
	dead := umctest.DeadLetterDir(queue)
	letters, _ := os.ReadFile(filepath.Join(dead, spool.DeadLetterLog))
	rel, _ := filepath.Rel(queue, dead)
	fmt.Printf("\nqueue files left: %d\ndead letters (%s):\n%s", len(left), filepath.Join("<queue>", rel, spool.DeadLetterLog), letters)
	return nil
}

func startStub() (base string, stop func(), err error) {
	stub := &umctest.UMC{OnCall: func(c umctest.Call) {
		fmt.Printf("UMC call send_token username=%q method=%s language=%s -> %d\n", c.Username, c.Method, c.Language, c.Status)
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: stub, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

func runWithFluentBit(bin, plugin, config, base, queue, work string, wait time.Duration) error {
	port, err := umctest.Port()
	if err != nil {
		return err
	}
	fmt.Printf("\nrunning %s -e %s -c %s\n\n", bin, plugin, config)
	p, err := fluentbit.Start(bin, []string{"-e", plugin, "-c", config}, []string{
		"UMC_URL=" + base, "QUEUE_DIR=" + queue, "STATE_DIR=" + filepath.Join(work, "state"),
		fmt.Sprintf("HTTP_PORT=%d", port),
		"METRICS_LISTEN=" + metricsListen(),
	}, pluginLines{})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && !p.Exited() {
		if left, _ := filepath.Glob(filepath.Join(queue, "*.send")); len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if p.Exited() {
		return fmt.Errorf("fluent-bit stopped:\n%s", p.Log())
	}
	p.Stop(15 * time.Second)
	return nil
}

// pluginLines echoes only the plugin's own log lines and errors.
type pluginLines struct{}

func (pluginLines) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if strings.Contains(line, "umc_invite") && !strings.Contains(line, "worker #") || strings.Contains(line, "[error]") {
			fmt.Println(line)
		}
	}
	return len(b), nil
}

func runWithHost(plugin, hostSource, base, queue, work string) error {
	hostBin := filepath.Join(work, "host")
	if out, err := exec.Command("cc", "-o", hostBin, hostSource, "-ldl", "-lpthread").CombinedOutput(); err != nil {
		return fmt.Errorf("compile %s: %v\n%s", hostSource, err, out)
	}
	var events []chunk.Event
	for _, f := range queueFiles {
		path := filepath.Join(queue, f.name)
		events = append(events, chunk.Tail(time.Now(), path, strings.TrimSuffix(f.content, "\n"), 0))
	}
	chunkFile := filepath.Join(work, "chunk.msgpack")
	if err := os.WriteFile(chunkFile, chunk.Encode(events...), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(hostBin, plugin)
	cmd.Stdin = strings.NewReader(fmt.Sprintf("init 0 UMC_URL=%s Queue_Dir=%s\nflush 0 %s umc_invite\nexit 0\n", base, queue, chunkFile))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	return cmd.Run()
}

// metricsListen serves the plugin's metrics on a free loopback port, named
// in the output, unless METRICS_LISTEN says otherwise.
func metricsListen() string {
	if v := os.Getenv("METRICS_LISTEN"); v != "" {
		return v
	}
	port, err := umctest.Port()
	if err != nil {
		return "off"
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	fmt.Printf("the plugin's metrics: curl http://%s/metrics\n", addr)
	return addr
}

package invite

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

var metricsRuns atomic.Int64

// outputName is unique in the process: the metrics registry is the
// process's, and -count runs a test again in it.
func outputName(prefix string) string { return fmt.Sprintf("%s_%d", prefix, metricsRuns.Add(1)) }

// newMetricsFixture is newFixture with Metrics_Listen at addr and the
// output named name.
func newMetricsFixture(t *testing.T, stub *umctest.UMC, keys config.Map, name, addr string) *fixture {
	t.Helper()
	srv := httptest.NewServer(stub)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	keys["UMC_URL"], keys["Queue_Dir"], keys["Metrics_Listen"] = srv.URL, dir, addr
	cfg, err := config.Load(keys)
	if err != nil {
		t.Fatal(err)
	}
	out, err := New(cfg, NewLogger(io.Discard, name), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	f := &fixture{out: out, stub: stub, queue: dir, clock: time.Now()}
	out.now, out.prober.now = f.now, f.now
	return f
}

// scrape reads the endpoint and returns one output's samples, keyed by
// the metric and its labels other than output, e.g.
// `umc_invite_invitations_total{result="sent"}`.
func scrape(t *testing.T, addr, output string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := expfmt.SampleDecoder{Dec: expfmt.NewDecoder(resp.Body, expfmt.NewFormat(expfmt.TypeTextPlain)), Opts: &expfmt.DecodeOptions{Timestamp: model.Now()}}
	out := map[string]float64{}
	for {
		var v model.Vector
		if err := dec.Decode(&v); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		for _, s := range v {
			if string(s.Metric["output"]) != output {
				continue
			}
			m := s.Metric.Clone()
			delete(m, "output")
			out[m.String()] = float64(s.Value)
		}
	}
}

// A mixed run through the accounting: the endpoint's counts are what the
// UMC stand-in saw and what the dead letters hold.
func TestMetricsCountAMixedRun(t *testing.T) {
	refused := map[string]bool{"nomail1": true, "nomail2": true}
	stub := &umctest.UMC{
		Refused: func(u string) bool { return refused[u] },
		Fail:    func(u string, _ int) int { return map[bool]int{true: 500}[u == "broken"] },
		Latency: 2 * time.Millisecond,
	}
	addr, name := umctest.FreeAddr(t), outputName("mixed")
	f := newMetricsFixture(t, stub, config.Map{"Max_Age": "1h"}, name, addr)
	healthy := names("user", 30)
	f.enqueue(t, append(healthy, "nomail1", "nomail2", "broken")...)
	if err := os.WriteFile(filepath.Join(f.queue, "bad.send"), []byte("bad user\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fb := newFluentBit(f)
	fb.runUntilIdle(t, 20)

	got := scrape(t, addr, name)
	byKind := lettersByKind(f.deadLetters(t))
	calls := stub.Calls()
	byStatus := map[int]int{}
	for _, c := range calls {
		byStatus[c.Status]++
	}
	want := map[string]float64{
		`umc_invite_invitations_total{result="sent"}`:               float64(len(stub.Delivered())),
		`umc_invite_invitations_total{result="refused"}`:            float64(len(byKind[spool.KindRefused])),
		`umc_invite_invitations_total{result="dead_letter"}`:        float64(len(byKind[spool.KindBadInput])),
		`umc_invite_invitations_total{result="expired"}`:            float64(len(byKind[spool.KindExpired])),
		`umc_invite_users_waiting`:                                  0,
		`umc_invite_umc_requests_total{class="delivered"}`:          float64(byStatus[200]),
		`umc_invite_umc_requests_total{class="refused"}`:            float64(byStatus[400]),
		`umc_invite_umc_requests_total{class="failed"}`:             float64(byStatus[500]),
		`umc_invite_umc_requests_total{class="unavailable"}`:        0,
		`umc_invite_umc_request_duration_seconds_count`:             float64(len(calls)),
		`umc_invite_umc_request_duration_seconds_bucket{le="+Inf"}`: float64(len(calls)),
		`umc_invite_in_flight`:                                      0,
		`umc_invite_queue_files`:                                    float64(len(f.queued(t))),
	}
	// The run itself, as the stand-in and the dead letters tell it.
	if len(stub.Delivered()) != 30 || len(byKind[spool.KindRefused]) != 2 || len(byKind[spool.KindExpired]) != 1 || len(byKind[spool.KindBadInput]) != 1 {
		t.Fatalf("unexpected run: delivered %d, letters %v", len(stub.Delivered()), byKind)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if got[`umc_invite_umc_request_duration_seconds_bucket{le="0.005"}`] > got[`umc_invite_umc_request_duration_seconds_bucket{le="0.5"}`] ||
		got[`umc_invite_umc_request_duration_seconds_sum`] < 0.002*float64(len(calls)) {
		t.Errorf("histogram: %v", got)
	}
	if last := got[`umc_invite_last_success_timestamp_seconds`]; time.Since(time.Unix(int64(last), 0)) > time.Minute {
		t.Errorf("last success %v", last)
	}
}

// An outage longer than a chunk's tries: every open record is carried
// over, and every call is "unavailable".
func TestMetricsCountCarryOvers(t *testing.T) {
	stub := &umctest.UMC{Outage: func() int { return 503 }}
	addr, name := umctest.FreeAddr(t), outputName("outage")
	f := newMetricsFixture(t, stub, config.Map{}, name, addr)
	f.tick = time.Second // the probes keep the outage's pace
	f.enqueue(t, "alice", "bob")
	fb := newFluentBit(f)
	for range 6 {
		fb.round(t)
	}
	got := scrape(t, addr, name)
	if got[`umc_invite_invitations_total{result="carried_over"}`] != 2 || got[`umc_invite_invitations_total{result="sent"}`] != 0 ||
		got[`umc_invite_umc_requests_total{class="unavailable"}`] != float64(len(stub.Calls())) ||
		got[`umc_invite_last_success_timestamp_seconds`] != 0 || got[`umc_invite_queue_files`] != 2 {
		t.Fatalf("%v (calls %d)", got, len(stub.Calls()))
	}
}

// Queue files waiting in the intake count too.
func TestMetricsCountTheIntake(t *testing.T) {
	addr, name := umctest.FreeAddr(t), outputName("intake")
	f := newMetricsFixture(t, &umctest.UMC{}, config.Map{"Queue_Window": "2"}, name, addr)
	for i := range 5 {
		if err := os.WriteFile(filepath.Join(f.queue, "incoming", fmt.Sprintf("u%d.send", i)), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := scrape(t, addr, name)[`umc_invite_queue_files`]; got != 5 {
		t.Fatalf("queue files %v", got)
	}
}

func TestTwoOutputsShareOneEndpoint(t *testing.T) {
	addr := umctest.FreeAddr(t)
	nameA, nameB := outputName("tenant_a"), outputName("tenant_b")
	a := newMetricsFixture(t, &umctest.UMC{}, config.Map{}, nameA, addr)
	b := newMetricsFixture(t, &umctest.UMC{Refused: func(string) bool { return true }}, config.Map{}, nameB, addr)
	a.out.Flush(context.Background(), a.queueFiles(t, "a1", "a2", "a3"))
	b.enqueue(t, "b0")
	newFluentBit(b).runUntilIdle(t, 5)
	b.enqueue(t, "b1") // waiting
	ga, gb := scrape(t, addr, nameA), scrape(t, addr, nameB)
	if ga[`umc_invite_invitations_total{result="sent"}`] != 3 || ga[`umc_invite_invitations_total{result="refused"}`] != 0 ||
		gb[`umc_invite_invitations_total{result="sent"}`] != 0 || gb[`umc_invite_invitations_total{result="refused"}`] != 1 || gb[`umc_invite_umc_requests_total{class="refused"}`] != float64(len(b.stub.Calls())) || // the user, and UMC's probes

		gb[`umc_invite_queue_files`] != 1 || ga[`umc_invite_queue_files`] != 0 {
		t.Fatalf("a %v\nb %v", ga, gb)
	}
}

// A taken address refuses the start with the key's name, and leaves
// nothing claimed: the queue can be used once the address is free.
func TestTakenMetricsAddressRefusesTheStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keys := config.Map{"UMC_URL": "http://127.0.0.1:1", "Queue_Dir": dir, "Metrics_Listen": taken.Addr().String()}
	cfg, err := config.Load(keys)
	if err != nil {
		t.Fatal(err)
	}
	name := outputName("taken")
	if _, err := New(cfg, NewLogger(io.Discard, name), nil); err == nil || !strings.HasPrefix(err.Error(), "Metrics_Listen: ") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("%v", err)
	}
	taken.Close()
	out, err := New(cfg, NewLogger(io.Discard, name), nil)
	if err != nil {
		t.Fatalf("after the address is free: %v", err)
	}
	out.Close()
}

// A hot reload: the output exits and starts again with the same name,
// queue and address. The queue guard lets it, and the counters go on.
func TestReinitContinuesTheCounters(t *testing.T) {
	srv := httptest.NewServer(&umctest.UMC{})
	defer srv.Close()
	addr, name, dir := umctest.FreeAddr(t), outputName("reinit"), t.TempDir()
	cfg, err := config.Load(config.Map{"UMC_URL": srv.URL, "Queue_Dir": dir, "Metrics_Listen": addr})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{queue: dir}
	for round := 1; round <= 3; round++ {
		out, err := New(cfg, NewLogger(io.Discard, name), nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		f.out = out
		out.Flush(context.Background(), []record.Record{f.queueFile(t, fmt.Sprintf("r%d", round))})
		out.Close()
		if got := scrape(t, addr, name)[`umc_invite_invitations_total{result="sent"}`]; got != float64(round) {
			t.Fatalf("round %d: sent %v", round, got)
		}
	}
}

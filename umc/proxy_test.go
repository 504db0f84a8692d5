package umc

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
)

// A proxy stand-in: it answers like UMC (umcstub reads only the path) and
// records the host each request was meant for.
type proxyStub struct {
	umctest.UMC
	mu    sync.Mutex
	hosts []string
}

func (p *proxyStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.hosts = append(p.hosts, r.Host)
	p.mu.Unlock()
	p.UMC.ServeHTTP(w, r)
}

func (p *proxyStub) Hosts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hosts...)
}

func transportOf(c *Client) *http.Transport { return c.transport }

func TestTransport(t *testing.T) {
	c := newClient(t, "http://umc", config.Map{"Concurrency": "7"})
	tr := transportOf(c)
	if tr.Proxy != nil {
		t.Error("the transport has a Proxy function: HTTP_PROXY/HTTPS_PROXY would be honoured")
	}
	if tr.MaxIdleConns != 7 || tr.MaxIdleConnsPerHost != 7 {
		t.Errorf("idle pool %d/%d, want Concurrency 7", tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.InsecureSkipVerify || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
		t.Errorf("TLS config %+v", tr.TLSClientConfig)
	}
}

// The environment's proxy must receive nothing. Go's ProxyFromEnvironment
// reads the environment once per process and never proxies loopback
// addresses, so the check runs in a fresh process (the test binary again)
// with the proxy variables set, and also calls a host that is not
// loopback: umc.invalid, which no resolver knows. With an environment
// proxy honoured, that call would reach the proxy stand-in and succeed.
func TestEnvironmentProxyReceivesNothing(t *testing.T) {
	if os.Getenv("UMC_INVITE_TEST_UMC") != "" {
		t.Skip("in the child process")
	}
	proxy := &proxyStub{}
	proxyURL := umctest.NewServer(t, proxy)
	umc := &umctest.UMC{}
	umcURL := umctest.NewServer(t, umc)

	cmd := exec.Command(os.Args[0], "-test.run", "^TestEnvironmentProxyChild$", "-test.v", "-test.count", "1")
	cmd.Env = append(os.Environ(), "UMC_INVITE_TEST_UMC="+umcURL,
		"HTTP_PROXY="+proxyURL, "HTTPS_PROXY="+proxyURL, "http_proxy="+proxyURL, "https_proxy="+proxyURL,
		"ALL_PROXY="+proxyURL, "NO_PROXY=", "no_proxy=", "REQUEST_METHOD=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestEnvironmentProxyChild") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if h := proxy.Hosts(); len(h) != 0 {
		t.Fatalf("the environment's proxy received calls for %v", h)
	}
	if d := umc.Delivered(); d["alice"] != 1 || len(umc.Calls()) != 1 {
		t.Fatalf("UMC got %v", umc.Calls())
	}
}

func TestEnvironmentProxyChild(t *testing.T) {
	umcURL := os.Getenv("UMC_INVITE_TEST_UMC")
	if umcURL == "" {
		t.Skip("run by TestEnvironmentProxyReceivesNothing")
	}
	if os.Getenv("HTTP_PROXY") == "" {
		t.Fatal("no proxy in the environment")
	}
	if a := newClient(t, umcURL, config.Map{"Quick_Retries": "0"}).SendToken(context.Background(), "alice"); !served(a) {
		t.Fatalf("to the UMC stand-in: %v", a)
	}
	a := newClient(t, "http://umc.invalid", config.Map{"Quick_Retries": "0", "Timeout": "5s"}).SendToken(context.Background(), "bob")
	if served(a) || a.Err == nil {
		t.Fatalf("a call to umc.invalid got an answer, so it went through a proxy: %v", a)
	}
}

// HTTP_Proxy, and only it, sends the calls through a proxy.
func TestHTTPProxyIsUsed(t *testing.T) {
	proxy := &proxyStub{UMC: umctest.UMC{Prefix: "/univention", User: "u", Password: "p"}}
	proxyURL := umctest.NewServer(t, proxy)
	c := newClient(t, "http://umc.invalid/univention", config.Map{"HTTP_Proxy": proxyURL, "Auth_User": "u", "Auth_Password": "p"})
	if a := c.SendToken(context.Background(), "alice"); !served(a) {
		t.Fatalf("%v", a)
	}
	if h := proxy.Hosts(); len(h) != 1 || h[0] != "umc.invalid" {
		t.Fatalf("proxy saw %v", h)
	}
	if transportOf(c).Proxy == nil {
		t.Fatal("no Proxy function with HTTP_Proxy set")
	}
}

// Package series lists the series the plugin exports, as a scrape shows them.
package series

import (
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"

	"umc-invite/umc/metrics"
)

// Exported scrapes an output's metrics endpoint as Prometheus does
// and returns the series names a PromQL expression can use: every family,
// and a histogram's _bucket, _sum and _count.
func Exported(t testing.TB) []string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	o, err := metrics.Attach("series", addr, func() (int, error) { return 0, nil })
	if err != nil {
		t.Fatal(err)
	}
	defer o.Detach()
	resp, err := http.Get("http://" + addr + metrics.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if name, _, _ := strings.Cut(line, "{"); line != "" && !strings.HasPrefix(line, "#") {
			name, _, _ = strings.Cut(name, " ")
			seen[name] = true
		}
	}
	var names []string
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

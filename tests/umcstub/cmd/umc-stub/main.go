// Command umc-stub serves the UMC stand-in on loopback and prints every
// send_token call it gets, for `make run` and for end-to-end tests.
package main

import (
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"umc-invite/tests/umctest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	addrFile := flag.String("addr-file", "", "write the base URL here once listening")
	latency := flag.Duration("latency", 0, "delay of every answer")
	failRate := flag.Float64("fail-rate", 0, "share of first calls per user answered 503 (decided by a hash of user and call)")
	quiet := flag.Bool("quiet", false, "do not print each call")
	user := flag.String("user", "", "the only basic-auth user taken (with -password; no credentials are taken too, as UMC does)")
	password := flag.String("password", "", "its password")
	flag.Parse()

	stub := &umctest.UMC{Latency: *latency, User: *user, Password: *password}
	if *failRate > 0 {
		stub.Fail = func(username string, n int) int {
			if n > 3 { // transient: the fourth call of a user always goes through
				return 0
			}
			h := fnv.New32a()
			fmt.Fprintf(h, "%s/%d", username, n)
			if float64(h.Sum32()%10000)/10000 < *failRate {
				return http.StatusServiceUnavailable
			}
			return 0
		}
	}
	if !*quiet {
		stub.OnCall = func(c umctest.Call) {
			auth := "anonymous"
			if r := (&http.Request{Header: c.Header}); r.Header != nil {
				if user, _, ok := r.BasicAuth(); ok {
					auth = fmt.Sprintf("%q", user)
				}
			}
			fmt.Printf("%s UMC send_token username=%q method=%s language=%s auth=%s -> %d\n",
				c.Time.Format("15:04:05.000"), c.Username, c.Method, c.Language, auth, c.Status)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(base), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("UMC stand-in listening on %s\n", base)
	srv := &http.Server{Handler: stub, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

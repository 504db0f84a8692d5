package helm

// An upgrade that would change the uid of a running DaemonSet's Fluent
// Bit is refused: its state and dead letters on every node are the old
// uid's, which the new one cannot read.

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/client-go/rest"
)

// runningDaemonSet is a cluster API that holds the release's DaemonSet,
// its Fluent Bit running as uid.
func runningDaemonSet(t *testing.T, uid string) *rest.Config {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/apis/apps/v1":
			_, _ = w.Write([]byte(`{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"apps/v1","resources":[{"name":"daemonsets","singularName":"daemonset","namespaced":true,"kind":"DaemonSet","verbs":["get"]}]}`))
		case "/apis/apps/v1/namespaces/umc-invite/daemonsets/umc-invite":
			_, _ = w.Write([]byte(`{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"umc-invite","namespace":"umc-invite"},"spec":{"template":{"spec":{"containers":[{"name":"umc-invite","securityContext":{"runAsUser":` + uid + `}}]}}}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

func upgrade(t *testing.T, cluster *rest.Config, set ...string) error {
	t.Helper()
	ch, err := loader.Load(ChartDir())
	if err != nil {
		t.Fatal(err)
	}
	vals, err := Options{ValueFiles: []string{"ci/daemonset-values.yaml"}, Set: set}.values()
	if err != nil {
		t.Fatal(err)
	}
	top, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "umc-invite", Namespace: "umc-invite", IsUpgrade: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.New(cluster).Render(ch, top)
	return err
}

func TestAnUpgradeThatWouldChangeFluentBitsUIDIsRefusedSayingHow(t *testing.T) {
	cluster := runningDaemonSet(t, "65532")
	err := upgrade(t, cluster)
	if err == nil {
		t.Fatal("an upgrade from uid 65532 to the default uid rendered: the new Fluent Bit could read neither its state nor the dead letters")
	}
	for _, want := range []string{"65532", "daemonset.runAsUser", "chown -R -h"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
	if err := upgrade(t, cluster, "daemonset.runAsUser=65532", "daemonset.runAsGroup=65532"); err != nil {
		t.Errorf("an upgrade keeping uid 65532 is refused: %v", err)
	}
	if err := upgrade(t, runningDaemonSet(t, "40104")); err != nil {
		t.Errorf("an upgrade keeping the default uid is refused: %v", err)
	}
}

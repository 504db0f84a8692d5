package helm

// The NetworkPolicy's egress names UMC, LDAP and the notifier, not every
// pod of the namespace: the listener holds cn=admin's password, and any
// pod listening on 389 or 6669 in Nubus's namespace would otherwise be a
// place it may connect to.

import (
	"fmt"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

func TestTheNetworkPolicyEgressNamesItsPeers(t *testing.T) {
	for _, mode := range []string{"sidecar", "daemonset"} {
		objs := objects(t, render(t, Options{ValueFiles: []string{"ci/" + mode + "-values.yaml"}, Set: []string{"networkPolicy.enabled=true"}}))
		np := objs["NetworkPolicy"][0].(*networkingv1.NetworkPolicy)
		for _, r := range np.Spec.Egress {
			var ports []int32
			for _, p := range r.Ports {
				ports = append(ports, p.Port.IntVal)
			}
			for _, peer := range r.To {
				if peer.IPBlock == nil && peer.NamespaceSelector == nil && peer.PodSelector != nil &&
					len(peer.PodSelector.MatchLabels) == 0 && len(peer.PodSelector.MatchExpressions) == 0 {
					t.Errorf("%s: egress to ports %v: to every pod of the namespace (podSelector {})", mode, ports)
				}
			}
		}
	}
}

// A tenant's UMC on a port of its own (its url says it): the NetworkPolicy
// lets the DaemonSet reach that tenant's UMC on that port, or the chart
// refuses to render; it never renders a policy under which every one of
// that tenant's calls fails.
func TestTheNetworkPolicyLetsATenantReachItsUMCOnItsURLsPort(t *testing.T) {
	o := Options{ValueFiles: []string{"ci/daemonset-values.yaml"}, Set: []string{"networkPolicy.enabled=true",
		"tenants[0].url=https://portal.tenant-a.example.org:8443/univention"}}
	o.Release, o.Namespace = "umc-invite", "umc-invite"
	out, err := Template(o)
	if err != nil {
		return // refused at render: the operator is told
	}
	np := objects(t, Split(out))["NetworkPolicy"][0].(*networkingv1.NetworkPolicy)
	for _, r := range np.Spec.Egress {
		for _, peer := range r.To {
			if peer.IPBlock == nil || peer.IPBlock.CIDR != "198.51.100.10/32" {
				continue
			}
			for _, p := range r.Ports {
				if p.Port.IntVal == 8443 {
					return
				}
			}
			var ports []int32
			for _, p := range r.Ports {
				ports = append(ports, p.Port.IntVal)
			}
			t.Fatalf("tenant-a's UMC is at port 8443 (its url); egress to its peer allows only ports %v: every call of tenant-a fails", ports)
		}
	}
	t.Fatal("no egress rule for tenant-a's UMC peer")
}

// The UMC egress rule allows the port the url names (or its scheme's) as
// well as networkPolicy.egress.umc.ports, which still hold the pod ports
// behind a Service (Nubus's umc-server: 8090 behind 80) that no url shows.
func TestTheNetworkPolicyAddsTheUMCURLsPortToTheConfiguredPorts(t *testing.T) {
	for _, c := range []struct {
		mode, set string
		want      []int32
	}{
		{"sidecar", "umc.connection.url=https://umc.example.org:9443/univention", []int32{80, 443, 8090, 9443}},
		{"sidecar", "networkPolicy.egress.umc.ports={8090}", []int32{8090, 80}},
		{"daemonset", "networkPolicy.egress.umc.ports={8090}", []int32{8090, 443}},
		{"daemonset", "tenants[0].url=http://[2001:db8::10]/univention", []int32{80, 443, 8090}},
	} {
		out, err := Template(Options{Release: "nubus", Namespace: "nubus", ValueFiles: []string{"ci/" + c.mode + "-values.yaml"},
			Set: []string{"networkPolicy.enabled=true", c.set}})
		if err != nil {
			t.Errorf("%s, %s: %v", c.mode, c.set, err)
			continue
		}
		np := objects(t, Split(out))["NetworkPolicy"][0].(*networkingv1.NetworkPolicy)
		var got []int32
		for _, p := range np.Spec.Egress[1].Ports { // [0] is DNS; [1] the (first tenant's) UMC
			got = append(got, p.Port.IntVal)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s, %s: egress to UMC on ports %v, want %v", c.mode, c.set, got, c.want)
		}
	}
}

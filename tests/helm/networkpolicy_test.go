package helm

// The NetworkPolicy's egress names UMC, LDAP and the notifier, not every
// pod of the namespace: the listener holds cn=admin's password, and any
// pod listening on 389 or 6669 in Nubus's namespace would otherwise be a
// place it may connect to.

import (
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

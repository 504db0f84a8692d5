package helm

// `helm install --skip-schema-validation` renders what the schema would
// refuse: the templates check, on their own, every value they write into
// the Fluent Bit config every output shares.

import "testing"

func TestTheTemplatesRefuseAValueThatIsMoreThanDataWithoutTheSchema(t *testing.T) {
	for name, set := range map[string]string{
		"a tenant's url with a line break":        "tenants[0].url=https://portal.tenant-a.example.org/univention\n    Match_Regex .*",
		"a tenant's url reading the environment":  "tenants[0].url=https://portal.tenant-a.example.org/${HOSTNAME}",
		"a tenant's language with a line break":   "tenants[0].language=de-DE\n    Match_Regex .*",
		"a tenant's user with a line break":       "tenants[0].auth.user=svc\n    Match_Regex .*",
		"a tenant's Secret key with a line break": "tenants[0].auth.existingSecret.keyMapping.password=password\n    Match_Regex .*",
		"a tenant's window that is no number":     "tenants[0].window=1\n    Match_Regex .*",
	} {
		if _, err := Template(Options{Release: "r", Namespace: "n", ValueFiles: []string{"ci/daemonset-values.yaml"}, Set: []string{set}, SkipSchema: true}); err == nil {
			t.Errorf("%s (%q): rendered", name, set)
		}
	}
	for name, set := range map[string]string{
		"the sidecar's url with a line break":        "umc.connection.url=http://umc-server/univention\n    Match_Regex .*",
		"the sidecar's language with a line break":   "umc.language=de-DE\n    Match_Regex .*",
		"the listener's LDAP host with a line break": "listener.ldap.connection.host=ldap\n    ldap/base: dc=evil",
	} {
		if _, err := Template(Options{Release: "r", Namespace: "n", ValueFiles: []string{"ci/sidecar-values.yaml"}, Set: []string{set}, SkipSchema: true}); err == nil {
			t.Errorf("%s (%q): rendered", name, set)
		}
	}
}

// A tenant's url is data: a template in it stays text, it never reaches
// .Values (another tenant's password) or the release.
func TestATenantURLIsRenderedAsDataNotAsATemplate(t *testing.T) {
	const url = "https://portal.tenant-a.example.org/univention/{{.Release.Namespace}}"
	out, err := Template(Options{Release: "r", Namespace: "n", ValueFiles: []string{"ci/daemonset-values.yaml"},
		Set: []string{"tenants[0].url=" + url}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range parseClassic(t, configOf(t, Split(out))) {
		if s.name == "output" && s.keys["output_name"] == "tenant-a" && s.keys["umc_url"] != url {
			t.Errorf("tenant-a's UMC_URL is %q, not the value as given, %q", s.keys["umc_url"], url)
		}
	}
}

// The listener's settings go into its UCR files one a line: a value that
// could add a line of its own is refused by the schema.
func TestAListenerValueCannotAddALineToItsSettings(t *testing.T) {
	for name, set := range map[string]string{
		"an LDAP port with a line break":  "listener.ldap.connection.port=389\n    ldap/base: dc=evil",
		"a debug level with a line break": "listener.debugLevel=2\n    ldap/base: dc=evil",
		"an LDAP host with a line break":  "listener.ldap.connection.host=ldap\n    ldap/base: dc=evil",
	} {
		if _, err := Template(Options{Release: "r", Namespace: "n", ValueFiles: []string{"ci/sidecar-values.yaml"}, Set: []string{set}}); err == nil {
			t.Errorf("%s (%q): rendered", name, set)
		}
	}
}

package helm

import (
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// listenerSecret is the Secret and key the listener's LDAP password comes
// from.
func listenerSecret(t *testing.T, objs map[string][]any) (name, key string) {
	t.Helper()
	tpl, _ := podOf(t, objs)
	for _, v := range tpl.Spec.Volumes {
		if v.Name != "listener-secrets" || v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.Secret == nil {
				continue
			}
			for _, it := range s.Secret.Items {
				if it.Path == "ldap_secret" {
					return s.Secret.Name, it.Key
				}
			}
		}
	}
	t.Fatal("no ldap_secret in the listener's Secrets")
	return "", ""
}

// Issue 26 item 9: the listener's LDAP admin Secret is its own if given,
// else Nubus's global.ldap.auth.admin.existingSecret (a Nubus installed
// with a Secret of its own), else Nubus's default.
func TestListenerAdminSecretFollowsNubusGlobals(t *testing.T) {
	for _, c := range []struct {
		name     string
		set      []string
		wantName string
		wantKey  string
	}{
		{"Nubus's default", nil, "nubus-ldap-server-admin", "password"},
		{"beside another Nubus release", []string{"nubusRelease=idm"}, "idm-ldap-server-admin", "password"},
		{"Nubus's global", []string{"global.ldap.auth.admin.existingSecret.name=ldap-admin-custom",
			"global.ldap.auth.admin.existingSecret.keyMapping.password=adminPassword"}, "ldap-admin-custom", "adminPassword"},
		{"Nubus's global, no key", []string{"global.ldap.auth.admin.existingSecret.name=custom"}, "custom", "password"},
		{"the listener's own first", []string{"global.ldap.auth.admin.existingSecret.name=ldap-admin-custom",
			"global.ldap.auth.admin.existingSecret.keyMapping.password=adminPassword",
			"listener.ldap.auth.existingSecret.name=mine"}, "mine", "password"},
		{"the listener's key with the global Secret", []string{"global.ldap.auth.admin.existingSecret.name=ldap-admin-custom",
			"listener.ldap.auth.existingSecret.keyMapping.password=pw"}, "ldap-admin-custom", "pw"},
	} {
		t.Run(c.name, func(t *testing.T) {
			name, key := listenerSecret(t, nubus(t, c.set...))
			if name != c.wantName || key != c.wantKey {
				t.Errorf("listener's password from Secret %s key %s, want %s key %s", name, key, c.wantName, c.wantKey)
			}
		})
	}
}

// The same as a subchart of a Nubus-like umbrella whose globals name a
// custom admin Secret, in Nubus's own form (a template and a key).
func TestListenerAdminSecretAsNubusSubchart(t *testing.T) {
	parent := t.TempDir()
	writeFile(t, filepath.Join(parent, "Chart.yaml"), `apiVersion: v2
name: my-nubus
version: 0.1.0
dependencies:
  - name: umc-invite
    alias: umcInvite
    version: ">=0.0.0"
    condition: umcInvite.enabled
`)
	writeFile(t, filepath.Join(parent, "values.yaml"), `global:
  ldap:
    baseDn: dc=example,dc=org
    auth:
      admin:
        existingSecret:
          name: "{{ .Release.Name }}-ldap-admin-from-vault"
          keyMapping:
            password: "adminPassword"
umcInvite:
  enabled: true
`)
	mkdir(t, filepath.Join(parent, "charts"))
	if err := os.Symlink(ChartDir(), filepath.Join(parent, "charts", "umc-invite")); err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(parent)
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	in.DryRun, in.ClientOnly, in.Replace = true, true, true
	in.ReleaseName, in.Namespace = "nubus", "nubus"
	rel, err := in.Run(ch, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, Split(rel.Manifest))
	if len(objs["StatefulSet"]) != 1 {
		t.Fatal("no StatefulSet")
	}
	name, key := listenerSecret(t, objs)
	if name != "nubus-ldap-admin-from-vault" || key != "adminPassword" {
		t.Errorf("listener's password from Secret %s key %s, want Nubus's global nubus-ldap-admin-from-vault key adminPassword", name, key)
	}
}

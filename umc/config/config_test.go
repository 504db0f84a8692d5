package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, m Map) (*Config, error) {
	t.Helper()
	return Load(m)
}

func TestDefaults(t *testing.T) {
	c, err := load(t, Map{"UMC_URL": "http://umc-server/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Endpoint(); got != "http://umc-server/command/passwordreset/send_token" {
		t.Errorf("endpoint %q", got)
	}
	if c.Method != "email" || c.Language != "en-US" || !c.TLSVerify || c.Timeout != 30*time.Second ||
		c.UsernameKey != "username" || c.PathKey != "path" || c.OffsetKey != "offset" ||
		c.MaxAttempts != 6 || c.Concurrency != 4 || c.QuickRetries != 2 || c.RemoveProcessed || c.DeadLetterDir != "" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestKeysAreCaseInsensitive(t *testing.T) {
	c, err := load(t, Map{"umc_url": "https://ucs.example.org/univention", "LANGUAGE": "de-DE", "concurrency": "16"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint() != "https://ucs.example.org/univention/command/passwordreset/send_token" || c.Language != "de-DE" || c.Concurrency != 16 {
		t.Errorf("got %+v", c)
	}
}

func TestQueueDirDerivesDefaults(t *testing.T) {
	dir := t.TempDir()
	c, err := load(t, Map{"UMC_URL": "http://umc", "Queue_Dir": dir})
	if err != nil {
		t.Fatal(err)
	}
	if !c.RemoveProcessed || c.DeadLetterDir != filepath.Join(dir, "failed") {
		t.Errorf("remove %v, dead letters %q", c.RemoveProcessed, c.DeadLetterDir)
	}
	c, err = load(t, Map{"UMC_URL": "http://umc", "Queue_Dir": dir, "Remove_Processed": "off", "Dead_Letter_Dir": "/srv/dead"})
	if err != nil {
		t.Fatal(err)
	}
	if c.RemoveProcessed || c.DeadLetterDir != "/srv/dead" {
		t.Errorf("remove %v, dead letters %q", c.RemoveProcessed, c.DeadLetterDir)
	}
}

func TestPasswordFile(t *testing.T) {
	c, err := load(t, Map{"UMC_URL": "http://umc", "Auth_User": "invite", "Auth_Password_File": secretFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	if string(c.AuthPassword) != "s3cret" {
		t.Errorf("password %q", string(c.AuthPassword))
	}
}

func secretFile(t *testing.T) string {
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestSecretNeverPrints(t *testing.T) {
	c := &Config{AuthPassword: "s3cret"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(format, c); strings.Contains(s, "s3cret") {
			t.Errorf("%s shows the password: %s", format, s)
		}
	}
}

func TestBadConfigNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	cases := []struct {
		name string
		m    Map
		want string
	}{
		{"missing URL", Map{}, "UMC_URL: is required"},
		{"no scheme", Map{"UMC_URL": "umc-server"}, "UMC_URL:"},
		{"ftp", Map{"UMC_URL": "ftp://umc"}, "UMC_URL: \"ftp://umc\": scheme must be http or https"},
		{"credentials in URL", Map{"UMC_URL": "https://u:p@umc"}, "UMC_URL: must not hold credentials"},
		{"unreadable password", Map{"UMC_URL": "http://umc", "Auth_User": "u", "Auth_Password_File": dir + "/nope"}, "Auth_Password_File: cannot read"},
		{"empty password file", Map{"UMC_URL": "http://umc", "Auth_User": "u", "Auth_Password_File": empty}, "Auth_Password_File:"},
		{"password without user", Map{"UMC_URL": "http://umc", "Auth_Password": "x"}, "Auth_User: must be set"},
		{"two passwords", Map{"UMC_URL": "http://umc", "Auth_User": "u", "Auth_Password_File": secretFile(t), "Auth_Password": "x"}, "Auth_Password: set it or Auth_Password_File, not both"},
		{"bad duration", Map{"UMC_URL": "http://umc", "Timeout": "soon"}, "Timeout: \"soon\" is not a duration"},
		{"zero duration", Map{"UMC_URL": "http://umc", "Flush_Timeout": "0s"}, "Flush_Timeout:"},
		{"bad bool", Map{"UMC_URL": "http://umc", "TLS_Verify": "maybe"}, "TLS_Verify: \"maybe\" is not on/off"},
		{"bad number", Map{"UMC_URL": "http://umc", "Concurrency": "many"}, "Concurrency: \"many\" is not a whole number"},
		{"zero attempts", Map{"UMC_URL": "http://umc", "Max_Attempts": "0"}, "Max_Attempts: 0 is outside"},
		{"missing queue dir", Map{"UMC_URL": "http://umc", "Queue_Dir": dir + "/nope"}, "Queue_Dir: cannot use"},
		{"remove without queue", Map{"UMC_URL": "http://umc", "Remove_Processed": "on"}, "Remove_Processed: needs Queue_Dir"},
		{"missing CA", Map{"UMC_URL": "http://umc", "TLS_CA_File": dir + "/ca.pem"}, "TLS_CA_File: cannot read"},
		{"missing config file", Map{"Config_File": dir + "/nope.toml"}, "Config_File: cannot read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPasswordNeverInErrors(t *testing.T) {
	_, err := load(t, Map{"UMC_URL": "https://umc", "Auth_Password": "s3cret"})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error %v", err)
	}
}

func writeTOML(t *testing.T, text string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "umc-invite.toml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestTOMLFile(t *testing.T) {
	file := writeTOML(t, `
umc_url = "https://ucs.example.org/univention"
language = "de-DE"
concurrency = 8
tls_verify = false
timeout = "5s"
`)
	c, err := load(t, Map{"Config_File": file, "Language": "fr-FR"})
	if err != nil {
		t.Fatal(err)
	}
	if c.URL.Host != "ucs.example.org" || c.Concurrency != 8 || c.TLSVerify || c.Timeout != 5*time.Second {
		t.Errorf("file values not taken: %+v", c)
	}
	if c.Language != "fr-FR" {
		t.Errorf("a Fluent Bit key must win over the file, got %q", c.Language)
	}
}

func TestTOMLFileRefusesUnknownKeys(t *testing.T) {
	for text, want := range map[string]string{
		"umc_url = \"http://umc\"\nretry_limit = 5\n": `unknown key "retry_limit"`,
		"UMC_URL = \"http://umc\"\n":                  `unknown key "UMC_URL" (keys are lower case`,
		"umc_url = [\"http://umc\"]\n":                `key "umc_url": want a string`,
		"umc_url = \"http://umc\n":                    "umc-invite.toml",
	} {
		_, err := load(t, Map{"Config_File": writeTOML(t, text)})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "Config_File: ") {
			t.Errorf("%q: error %v, want %q", text, err, want)
		}
	}
}

func TestEveryKeyHasAParserAndUniqueName(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys {
		if k.Parse == nil || k.Help == "" || seen[k.TOMLName()] {
			t.Errorf("key %s: parser, help and a unique name needed", k.Name)
		}
		seen[k.TOMLName()] = true
	}
}

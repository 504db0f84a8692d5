package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
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
		c.ChunkRetryLimit != 5 || c.RefusalGrace != 15*time.Minute || c.MaxAge != 120*time.Hour ||
		c.BackoffMin != 5*time.Second || c.BackoffMax != 10*time.Minute || c.Concurrency != 8 || c.QuickRetries != 2 || c.DeadLetterDir != "" ||
		c.IntakeDir != "" || c.QueueWindow != 1000 || c.RateLimit != 0 {
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
	if c.DeadLetterDir != filepath.Join(dir, "failed") {
		t.Errorf("dead letters %q", c.DeadLetterDir)
	}
	c, err = load(t, Map{"UMC_URL": "http://umc", "Queue_Dir": dir, "Dead_Letter_Dir": "/srv/dead"})
	if err != nil {
		t.Fatal(err)
	}
	if c.DeadLetterDir != "/srv/dead" {
		t.Errorf("dead letters %q", c.DeadLetterDir)
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
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		if s := fmt.Sprintf(format, c); strings.Contains(s, "s3cret") {
			t.Errorf("%s shows the password: %s", format, s)
		}
	}
}

func TestBadConfigNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello\n"), 0o600)
	u := func(kv ...string) Map {
		m := Map{"UMC_URL": "http://umc"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name string
		m    Map
		want string
	}{
		{"missing URL", Map{}, "UMC_URL: is required"},
		{"no scheme", Map{"UMC_URL": "umc-server"}, "UMC_URL: scheme \"\": must be http or https"},
		{"ftp", Map{"UMC_URL": "ftp://umc"}, "UMC_URL: scheme \"ftp\": must be http or https"},
		{"credentials in URL", Map{"UMC_URL": "https://u:p@umc"}, "UMC_URL: must not hold credentials"},
		{"no host", Map{"UMC_URL": "http://"}, "UMC_URL: has no host"},
		{"port only", Map{"UMC_URL": "http://:80"}, "UMC_URL: has no host"},
		{"opaque", Map{"UMC_URL": "http:umc"}, "UMC_URL: has no host"},
		{"port too big", Map{"UMC_URL": "http://umc:99999"}, "UMC_URL: port 99999 is outside 1..65535"},
		{"port zero", Map{"UMC_URL": "http://umc:0"}, "UMC_URL: port 0 is outside"},
		{"empty port", Map{"UMC_URL": "http://umc:"}, "UMC_URL: has an empty port"},
		{"bad port", Map{"UMC_URL": "http://umc:8o"}, "UMC_URL: not a URL"},
		{"query", Map{"UMC_URL": "http://umc/univention?x=1"}, "UMC_URL: must not have a query"},
		{"bare ?", Map{"UMC_URL": "http://umc/univention?"}, "UMC_URL: must not have a query"},
		{"fragment", Map{"UMC_URL": "http://umc/#top"}, "UMC_URL: must not have a fragment"},
		{"bare #", Map{"UMC_URL": "http://umc/#"}, "UMC_URL: must not have a fragment"},
		{"space", Map{"UMC_URL": "http://umc/uni vention"}, "UMC_URL: must not contain spaces"},
		{"control", Map{"UMC_URL": "http://umc/\x7f"}, "UMC_URL: not a URL"},
		{"command ..", u("Command", "passwordreset/../../x"), "Command: \"passwordreset/../../x\": want path segments"},
		{"command dot", u("Command", "a/./b"), "Command:"},
		{"command query", u("Command", "passwordreset/send_token?x=1"), "Command:"},
		{"command bare ?", u("Command", "passwordreset/send_token?"), "Command:"},
		{"command empty segment", u("Command", "passwordreset//send_token"), "Command:"},
		{"command only slashes", u("Command", "//"), "Command: must not be empty"},
		{"command escape", u("Command", "a%2Fb"), "Command:"},
		{"language CRLF", u("Language", "de-DE\r\nX-Evil: 1"), "Language: \"de-DE\\r\\nX-Evil: 1\" holds control characters"},
		{"language LF", u("Language", "de\nDE"), "Language:"},
		{"language NUL", u("Language", "de\x00"), "Language:"},
		{"language underscore", u("Language", "de_DE"), "Language: \"de_DE\" is not a language tag"},
		{"language list", u("Language", "de-DE,en;q=0.5"), "Language:"},
		{"language word", u("Language", "german"), "Language:"},
		{"language long subtag", u("Language", "de-abcdefghi"), "Language:"},
		{"language trailing hyphen", u("Language", "de-"), "Language:"},
		{"user with colon", u("Auth_User", "a:b", "Auth_Password", "x"), "Auth_User: must not contain \":\""},
		{"unreadable password", u("Auth_User", "u", "Auth_Password_File", dir+"/nope"), "Auth_Password_File: cannot read"},
		{"password file is a dir", u("Auth_User", "u", "Auth_Password_File", dir), "Auth_Password_File: " + dir + " is not a regular file"},
		{"empty password file", u("Auth_User", "u", "Auth_Password_File", empty), "Auth_Password_File: " + empty + " is empty"},
		{"password without user", u("Auth_Password", "x"), "Auth_User: must be set"},
		{"password file without user", u("Auth_Password_File", secretFile(t)), "Auth_User: must be set"},
		{"two passwords", u("Auth_User", "u", "Auth_Password_File", secretFile(t), "Auth_Password", "x"), "Auth_Password: set it or Auth_Password_File, not both"},
		{"missing CA", u("TLS_CA_File", dir+"/ca.pem"), "TLS_CA_File: cannot read"},
		{"CA without PEM", u("TLS_CA_File", notPEM), "TLS_CA_File: " + notPEM + ": no PEM certificate"},
		{"bad bool", u("TLS_Verify", "maybe"), "TLS_Verify: \"maybe\" is not on/off"},
		{"proxy ftp", u("HTTP_Proxy", "socks5://proxy:1080"), "HTTP_Proxy: scheme \"socks5\": must be http or https"},
		{"proxy credentials", u("HTTP_Proxy", "http://u:p@proxy:3128"), "HTTP_Proxy: must not hold credentials"},
		{"proxy no host", u("HTTP_Proxy", "proxy:3128"), "HTTP_Proxy:"},
		{"proxy port", u("HTTP_Proxy", "http://proxy:65536"), "HTTP_Proxy: port 65536 is outside"},
		{"proxy path", u("HTTP_Proxy", "http://proxy:3128/x"), "HTTP_Proxy: must not have a path"},
		{"proxy query", u("HTTP_Proxy", "http://proxy:3128?"), "HTTP_Proxy: must not have a query"},
		{"bad duration", u("Timeout", "soon"), "Timeout: \"soon\" is not a duration"},
		{"huge seconds", u("Timeout", "99999999999999999"), "Timeout: \"99999999999999999\" is not a duration"},
		{"negative duration", u("Timeout", "-5s"), "Timeout: -5s must be positive"},
		{"zero duration", u("Flush_Timeout", "0s"), "Flush_Timeout: 0s must be positive"},
		{"flush shorter than request", u("Timeout", "30s", "Flush_Timeout", "10s"), "Flush_Timeout: 10s is shorter than Timeout 30s"},
		{"flush shorter than default request", u("Flush_Timeout", "29"), "Flush_Timeout: 29s is shorter than Timeout 30s"},
		{"empty username key", u("Username_Key", " "), ""},
		{"retired Remove_Processed", u("Remove_Processed", "on"), "Remove_Processed: a delivered user's queue file is always removed"},
		{"bad number", u("Concurrency", "many"), "Concurrency: \"many\" is not a whole number"},
		{"huge number", u("Concurrency", "99999999999999999999"), "Concurrency: \"99999999999999999999\" is not a whole number"},
		{"zero concurrency", u("Concurrency", "0"), "Concurrency: 0 is outside 1..256"},
		{"retired Max_Attempts", u("Max_Attempts", "6"), "Max_Attempts: users are no longer ended by a count"},
		{"zero chunk retry limit", u("Chunk_Retry_Limit", "0"), "Chunk_Retry_Limit: 0 is outside 1..100"},
		{"backoff max below min", u("Backoff_Max", "1s"), "Backoff_Max: 1s is shorter than Backoff_Min 5s"},
		{"max age in days", u("Max_Age", "5x"), "Max_Age: \"5x\" is not a duration"},
		{"too many quick retries", u("Quick_Retries", "11"), "Quick_Retries: 11 is outside 0..10"},
		{"missing config file", Map{"Config_File": dir + "/nope.toml"}, "Config_File: cannot read"},
		{"config file is a dir", Map{"Config_File": dir}, "Config_File: " + dir + " is not a regular file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.m)
			if tc.want == "" {
				// A blank value is no value: the default applies.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			var ke *KeyError
			if !errors.As(err, &ke) || !strings.HasPrefix(tc.want, ke.Key+":") {
				t.Fatalf("error %v does not name the key of %q", err, tc.want)
			}
		})
	}
}

func TestGoodValues(t *testing.T) {
	for _, m := range []Map{
		{"UMC_URL": "http://umc-server"},
		{"UMC_URL": "https://ucs.example.org:8443/univention/"},
		{"UMC_URL": "http://[::1]:8080", "HTTP_Proxy": "http://proxy.example.org:3128/"},
		{"UMC_URL": "http://umc", "HTTP_Proxy": "https://proxy.example.org"},
		{"UMC_URL": "http://umc", "Language": "de"},
		{"UMC_URL": "http://umc", "Language": "gsw-CH"},
		{"UMC_URL": "http://umc", "Language": "zh-Hant-TW"},
		{"UMC_URL": "http://umc", "Command": "/passwordreset/send_token/"},
		{"UMC_URL": "http://umc", "Timeout": "30s", "Flush_Timeout": "30s"},
	} {
		if _, err := load(t, m); err != nil {
			t.Errorf("%v: %v", m, err)
		}
	}
}

func TestEndpointIsJoined(t *testing.T) {
	for base, want := range map[string]string{
		"http://umc-server":                   "http://umc-server/command/passwordreset/send_token",
		"http://umc-server/":                  "http://umc-server/command/passwordreset/send_token",
		"https://ucs.example.org/univention/": "https://ucs.example.org/univention/command/passwordreset/send_token",
		"http://umc:8080/a%20b":               "http://umc:8080/a%20b/command/passwordreset/send_token",
	} {
		c, err := load(t, Map{"UMC_URL": base})
		if err != nil {
			t.Fatal(err)
		}
		if c.Endpoint() != want {
			t.Errorf("%s: %s, want %s", base, c.Endpoint(), want)
		}
	}
}

// No parser may read another key's field: with the table in reverse
// order, every configuration must come out the same.
func TestParsersDoNotDependOnOrder(t *testing.T) {
	dir := t.TempDir()
	maps := []Map{
		{"UMC_URL": "http://umc", "Queue_Dir": dir},
		{"UMC_URL": "http://umc", "Queue_Dir": dir, "Dead_Letter_Dir": "/srv/dead/"},
		{"UMC_URL": "http://umc", "Auth_User": "u", "Auth_Password_File": secretFile(t)},
		{"UMC_URL": "http://umc", "Auth_User": "u", "Auth_Password": "x", "Timeout": "5", "Flush_Timeout": "5s"},
	}
	var forward []*Config
	for _, m := range maps {
		c, err := load(t, m)
		if err != nil {
			t.Fatal(err)
		}
		forward = append(forward, c)
	}
	saved := Keys
	t.Cleanup(func() { Keys = saved })
	Keys = slices.Clone(saved)
	slices.Reverse(Keys)
	for i, m := range maps {
		c, err := load(t, m)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, forward[i]) {
			t.Errorf("%v: reversed table gives\n%#v\nforward gives\n%#v", m, c, forward[i])
		}
	}
}

func TestWarnings(t *testing.T) {
	cases := []struct {
		m    Map
		warn bool
	}{
		{Map{"UMC_URL": "http://umc-server", "Auth_User": "u", "Auth_Password": "p"}, true},
		{Map{"UMC_URL": "http://10.0.0.1:8080", "Auth_User": "u"}, true},
		{Map{"UMC_URL": "http://umc-server"}, false},
		{Map{"UMC_URL": "https://umc-server", "Auth_User": "u", "Auth_Password": "p"}, false},
		{Map{"UMC_URL": "http://127.0.0.1:8090", "Auth_User": "u", "Auth_Password": "p"}, false},
		{Map{"UMC_URL": "http://[::1]:8090", "Auth_User": "u", "Auth_Password": "p"}, false},
		{Map{"UMC_URL": "http://LocalHost", "Auth_User": "u", "Auth_Password": "p"}, false},
		{Map{"UMC_URL": "http://localhost", "Auth_User": "u", "Auth_Password": "p", "HTTP_Proxy": "http://proxy:3128"}, true},
		{Map{"UMC_URL": "https://umc-server", "Auth_User": "u", "Auth_Password": "p", "HTTP_Proxy": "http://proxy:3128"}, false},
	}
	for _, tc := range cases {
		c, err := load(t, tc.m)
		if err != nil {
			t.Fatal(err)
		}
		w := c.Warnings()
		if tc.warn != (len(w) == 1) || len(w) > 1 {
			t.Errorf("%v: warnings %q", tc.m, w)
		}
		for _, line := range w {
			if strings.Contains(line, "\"p\"") || strings.Contains(line, ":p") || !strings.Contains(line, "plain http") {
				t.Errorf("%v: %q", tc.m, line)
			}
		}
	}
}

// The password must not reach a refusal, whichever key is refused and
// however the password was given.
func TestPasswordNeverInErrors(t *testing.T) {
	const pw = "s3cret-Pa55"
	for _, m := range []Map{
		{"UMC_URL": "https://umc", "Auth_Password": pw},
		{"UMC_URL": "ftp://umc", "Auth_User": "u", "Auth_Password": pw},
		{"UMC_URL": "https://umc", "Auth_User": "u", "Auth_Password": pw, "Auth_Password_File": secretFile(t)},
		{"UMC_URL": "https://u:" + pw + "@umc"},
		{"UMC_URL": "https://u:" + pw + "%zz@umc"},
		{"UMC_URL": "https://u:" + pw + "@umc:99999"},
		{"UMC_URL": "u:" + pw + "@umc"},
		{"UMC_URL": "//u:" + pw + "@umc"},
		{"UMC_URL": "https://umc", "HTTP_Proxy": "http://u:" + pw + "@proxy:3128"},
		{"UMC_URL": "https://umc", "HTTP_Proxy": "http://u:" + pw + "%zz@proxy"},
	} {
		_, err := load(t, m)
		if err == nil || strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%v: error %v", m, err)
		}
	}
}

// BurntSushi/toml's error quotes the offending text: on the password's
// line that is the password.
func TestTOMLSyntaxErrorDoesNotShowThePassword(t *testing.T) {
	const pw = "s3cret-Pa55"
	for _, line := range []string{
		`auth_password = "` + pw + ``,
		`auth_password = "` + pw + `" trailing`,
		`auth_password = ` + pw,
		`auth_password = '` + pw + "\n'",
		`auth_password = "` + pw + `\q"`,
		`auth_password = "` + pw + `\uZZZZ"`,
		`auth_password = "` + pw + `\xZZ"`,
		pw,
		`auth_password = "x"` + "\n" + `auth_password = "` + pw + `"`,
	} {
		file := writeTOML(t, "umc_url = \"http://umc\"\nauth_user = \"u\"\n"+line+"\n")
		_, err := load(t, Map{"Config_File": file})
		if err == nil || strings.Contains(err.Error(), "s3cret") || !regexp.MustCompile(`^Config_File: `+regexp.QuoteMeta(file)+`:[34]:\d+: not valid TOML`).MatchString(err.Error()) {
			t.Errorf("%q: error %v", line, err)
		}
	}
}

func TestTOMLLanguageWithCRLF(t *testing.T) {
	file := writeTOML(t, "umc_url = \"http://umc\"\nlanguage = \"de-DE\\r\\nX-Injected: 1\"\n")
	_, err := load(t, Map{"Config_File": file})
	if err == nil || !strings.HasPrefix(err.Error(), "Language: ") || !strings.Contains(err.Error(), "control characters") {
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

func TestIntakeDir(t *testing.T) {
	q := t.TempDir()
	if c, err := load(t, Map{"UMC_URL": "http://umc", "Queue_Dir": q}); err != nil || c.IntakeDir != filepath.Join(q, "incoming") {
		t.Fatalf("default: %v %+v", err, c)
	}
	if c, err := load(t, Map{"UMC_URL": "http://umc", "Queue_Dir": q, "Intake_Dir": "off"}); err != nil || c.IntakeDir != "" {
		t.Fatalf("off: %v %+v", err, c)
	}
	if _, err := load(t, Map{"UMC_URL": "http://umc", "Intake_Dir": "/x"}); err == nil || !strings.HasPrefix(err.Error(), "Intake_Dir: needs Queue_Dir") {
		t.Fatalf("without a queue: %v", err)
	}
	for key, bad := range map[string]string{"Queue_Window": "0", "Rate_Limit": "-1"} {
		if _, err := load(t, Map{"UMC_URL": "http://umc", key: bad}); err == nil || !strings.HasPrefix(err.Error(), key+": ") {
			t.Errorf("%s %s: %v", key, bad, err)
		}
	}
}

func TestDurationsInDays(t *testing.T) {
	c, err := Load(Map{"UMC_URL": "http://umc-server", "Max_Age": "5d", "Refusal_Grace": "90s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxAge != 120*time.Hour || c.RefusalGrace != 90*time.Second {
		t.Errorf("Max_Age %s, Refusal_Grace %s", c.MaxAge, c.RefusalGrace)
	}
}

// A Queue_Dir that is missing or no directory still loads: the output
// finds that out when it opens the directory at start and is disabled
// alone, where a refused configuration would stop every output.
func TestAQueueDirThatIsNoDirectoryIsLeftToTheOutputsStart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	for _, queueDir := range []string{filepath.Join(dir, "missing"), file} {
		c, err := load(t, Map{"UMC_URL": "http://umc-server/", "Queue_Dir": queueDir})
		if err != nil {
			t.Fatalf("Queue_Dir %s: %v", queueDir, err)
		}
		if c.QueueDir != queueDir || c.DeadLetterDir != filepath.Join(queueDir, "failed") {
			t.Errorf("Queue_Dir %s: queue %s, dead letters %s", queueDir, c.QueueDir, c.DeadLetterDir)
		}
	}
}

package config

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// languageRe is the language tag syntax as a pattern, apart from the
// code's own check.
var languageRe = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)

// checkLoaded holds what a loaded Config promises whatever the input.
func checkLoaded(t *testing.T, c *Config) {
	t.Helper()
	if c.URL == nil || c.URL.User != nil || (c.URL.Scheme != "http" && c.URL.Scheme != "https") || c.URL.RawQuery != "" || c.URL.Fragment != "" {
		t.Fatalf("UMC_URL %v passed", c.URL)
	}
	if u, err := url.Parse(c.Endpoint()); err != nil || u.Host != c.URL.Host || !strings.HasSuffix(u.Path, "/command/"+c.Command) {
		t.Fatalf("endpoint %q (%v) for %v and %q", c.Endpoint(), err, c.URL, c.Command)
	}
	if strings.Contains(c.Command, "..") || strings.ContainsAny(c.Command, "?#") {
		t.Fatalf("Command %q passed", c.Command)
	}
	if !languageRe.MatchString(c.Language) || strings.IndexFunc(c.Language, unicode.IsControl) >= 0 {
		t.Fatalf("Language %q passed", c.Language)
	}
	if c.HTTPProxy != nil && c.HTTPProxy.User != nil {
		t.Fatalf("HTTP_Proxy with credentials passed")
	}
	if c.Timeout <= 0 || c.FlushTimeout < c.Timeout || c.Concurrency < 1 || c.ChunkRetryLimit < 1 || c.BackoffMax < c.BackoffMin || c.QuickRetries < 0 {
		t.Fatalf("numbers passed: %+v", c)
	}
	if c.AuthPassword != "" && c.AuthUser == "" {
		t.Fatal("a password without a user passed")
	}
}

// FuzzLoad: Load over Fluent Bit keys never panics, what it accepts keeps
// its promises, and a refusal does not depend on the password's value:
// the same keys with another password of the same length give the same
// message, so none can show it.
func FuzzLoad(f *testing.F) {
	f.Add("http://umc-server", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, umcURL, command, language, timeout, flushTimeout, proxy, user, password string) {
		keys := func(pw string) Map {
			return Map{"UMC_URL": umcURL, "Command": command, "Language": language, "Timeout": timeout,
				"Flush_Timeout": flushTimeout, "HTTP_Proxy": proxy, "Auth_User": user, "Auth_Password": pw}
		}
		c, err := Load(keys(password))
		if err == nil {
			checkLoaded(t, c)
		}
		if strings.TrimSpace(password) == "" {
			return
		}
		_, other := Load(keys(strings.Repeat("x", len(password))))
		if errText(err) != errText(other) {
			t.Fatalf("the refusal depends on the password:\n%v\n%v", err, other)
		}
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzLoadTOML: Load over any Config_File never panics, and what it
// accepts keeps its promises.
func FuzzLoadTOML(f *testing.F) {
	f.Add("umc_url = \"http://umc\"\n")
	file := filepath.Join(f.TempDir(), "umc-invite.toml")
	f.Fuzz(func(t *testing.T, contents string) {
		if err := os.WriteFile(file, []byte(contents), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(Map{"Config_File": file})
		if err == nil {
			checkLoaded(t, c)
			return
		}
		var ke *KeyError
		if !errors.As(err, &ke) || !slices.ContainsFunc(Keys, func(k Key) bool { return k.Name == ke.Key }) {
			t.Fatalf("a refusal that names no key: %v", err)
		}
	})
}

// FuzzTOMLPasswordNeverInErrors: whatever the auth_password line holds,
// even text that breaks the file's syntax, the refusal does not show it.
func FuzzTOMLPasswordNeverInErrors(f *testing.F) {
	f.Add("s3cret-Pa55")
	file := filepath.Join(f.TempDir(), "umc-invite.toml")
	// What refusals say of their own; a "password" made of it proves nothing.
	const ours = "Config_File: " + "not valid TOML (after key auth_password; the text is not repeated here, it may hold a password)" +
		"unknown key (keys are lower case: umc_url, auth_user, …) want a string, number or boolean"
	f.Fuzz(func(t *testing.T, pw string) {
		text := "umc_url = \"http://umc\"\nauth_user = \"u\"\nauth_password = \"" + pw + "\"\n"
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(Map{"Config_File": file})
		if err == nil {
			return
		}
		// Any 8 bytes of it in a row count as shown, unless they are
		// our own words or could be a line:column.
		msg := strings.ReplaceAll(err.Error(), file, "<file>")
		for i := 0; i+8 <= len(pw); i++ {
			w := pw[i : i+8]
			if strings.Contains(msg, w) && !strings.Contains(ours, w) && strings.Trim(w, "0123456789:") != "" {
				t.Fatalf("the refusal shows %q of the password line: %s", w, msg)
			}
		}
	})
}

// The written-out syntax checks accept exactly what their patterns do.
func FuzzSyntaxChecksAgreeWithTheirPatterns(f *testing.F) {
	for _, s := range []string{"", "de", "en-US", "gsw-CH", "en-", "-en", "e", "engl", "en--US", "en-123456789", "en-12345678",
		"passwordreset/send_token", "a//b", "/a", "a/", "a/../b", "a?b", "tenant_a", "_x", ".x", "a:b-c.d", strings.Repeat("a", 64), strings.Repeat("a", 65), "ü"} {
		f.Add(s)
	}
	patterns := []struct {
		name  string
		re    *regexp.Regexp
		check func(string) bool
	}{
		{"language", languageRe, isLanguage},
		{"command", regexp.MustCompile(`^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$`), isCommand},
		{"output name", regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$`), isOutputName},
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range patterns {
			if got, want := p.check(s), p.re.MatchString(s); got != want {
				t.Errorf("%s %q: check says %v, the pattern %v", p.name, s, got, want)
			}
		}
	})
}

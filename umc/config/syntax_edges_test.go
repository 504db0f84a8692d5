package config

import (
	"regexp"
	"strings"
	"testing"
)

// The written-out checks of Language, Command and Output_Name agree with
// their patterns on the edges the fuzz seeds leave out: non-ASCII letters
// and digits (the patterns' classes are ASCII), a newline at the end
// ($ is the text's end), NUL, and the length limits.
func TestSyntaxChecksAgreeWithTheirPatternsAtTheEdges(t *testing.T) {
	command := regexp.MustCompile(`^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$`)
	outputName := regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$`)
	for _, s := range []string{
		"dé", "de-ä", "de-١", "en\n", "en-US\n", "en\x00", "\u212Aa", "ſe", "de-DE-", "de--", "de-12345678-x",
		"a/b\n", "a/b/", "a\\b", "a/ä", "a b", "-", "_", "a-/b",
		"tenant\n", "ä", "_.", ".", ":a", "a" + strings.Repeat(":", 63), "a" + strings.Repeat(":", 64), "a\x00",
	} {
		if got, want := isLanguage(s), languageRe.MatchString(s); got != want {
			t.Errorf("language %q: check %v, pattern %v", s, got, want)
		}
		if got, want := isCommand(s), command.MatchString(s); got != want {
			t.Errorf("command %q: check %v, pattern %v", s, got, want)
		}
		if got, want := isOutputName(s), outputName.MatchString(s); got != want {
			t.Errorf("output name %q: check %v, pattern %v", s, got, want)
		}
	}
}

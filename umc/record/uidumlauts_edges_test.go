package record

import (
	"strings"
	"testing"
)

// UDM's uid_umlauts and the written-out check agree on the edges the
// fuzz seeds leave out: title-case and number letters, other numbers,
// marks, separators, bytes that are no UTF-8 at each end and inside,
// and the U+0020..U+002E range's neighbours.
func TestUIDUmlautsCheckAgreesWithUDMsPatternAtItsEdges(t *testing.T) {
	for _, s := range []string{
		"ǅa", "aǅ", "Ⅻ", "a½b", "½", "a\u0345b", "\u0345", "a\u2028b", "a\u00a0b", "a\u3000b",
		"a/b", "a,b", "a-b", "a.b", "a\x1fb", "a b", "a  b", "a..b", "a.", ".a", "a-", "-a",
		"\xffa", "a\xff", "a\xffb", "a\xc3", "\xc3\xa4", "ä\xc3", "a\uFFFDb", "\uFFFD",
		"_", "__", "_._", "a_", "٣", "a٣", "a\U0001D7D8b", "a\U0001F600b", strings.Repeat("ä", 300),
	} {
		if got, want := isUIDUmlauts(s), ucsName.MatchString(s); got != want {
			t.Errorf("%q: the check says %v, UDM's pattern %v", s, got, want)
		}
	}
}

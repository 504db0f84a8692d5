package record

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"umc-invite/umc/policy"
)

// maxCarriedText keeps a carried line far below tail's Buffer_Max_Size.
const maxCarriedText = 300

// CarryLine is the line that carries username over, with what is known.
func CarryLine(usernameKey, username string, u policy.User) []byte {
	u.LastAnswer = cut(u.LastAnswer, maxCarriedText)
	u.LastUMC = cut(u.LastUMC, maxCarriedText)
	u.Reason = cut(u.Reason, 2*maxCarriedText)
	raw, _ := json.Marshal(u) // strings and times always encode
	var fields map[string]any
	_ = json.Unmarshal(raw, &fields)
	fields[usernameKey] = username
	line, _ := json.Marshal(fields)
	return append(line, '\n')
}

// Carried returns what a carried-over line (or parsed fields) says: one
// holding "first_seen", or an older version's "charged".
func (r Record) Carried() (policy.User, bool) {
	var raw []byte
	if line, hasLog := r.String("log"); hasLog {
		if !strings.HasPrefix(strings.TrimSpace(line), "{") {
			return policy.User{}, false
		}
		raw = []byte(line)
	} else {
		// Most records carry nothing: told from the fields themselves.
		_, isNew := r.Fields["first_seen"]
		_, isOld := r.Fields["charged"]
		if !isNew && !isOld {
			return policy.User{}, false
		}
		raw, _ = json.Marshal(r.Fields) // nil on error: no carried line
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(raw, &probe) != nil {
		return policy.User{}, false
	}
	_, isNew := probe["first_seen"]
	_, isOld := probe["charged"]
	var u policy.User
	if !isNew && !isOld || json.Unmarshal(raw, &u) != nil && isNew {
		return policy.User{}, false
	}
	return u, true
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

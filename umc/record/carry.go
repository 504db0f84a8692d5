package record

import (
	"umc-invite/umc/policy"

	"encoding/json"
	"strings"
	"time"
)

// Carry is what a carried-over line says of a user still waiting: a line
// the plugin appends to the user's queue file on its chunk's last try, which
// tail reads as a new record. It carries the user's age and what UMC last
// answered, so that neither a restart nor the new chunk starts the user
// afresh; the operator's command reads it too.
type Carry struct {
	// User is the state the decision reads (umc/policy), as it was.
	policy.User
	PauseSeconds float64 `json:"pause_s,omitempty"`
	// Letter and Reason are a refusal or dead letter decided but not yet
	// written down (a full disk): written, never sent again, next time.
	Letter string `json:"letter,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Refused is an older version's refusal decided but not yet written.
	Refused string `json:"refused,omitempty"`
}

// Of is the carried state of u.
func Of(u policy.User) Carry { return Carry{User: u, PauseSeconds: u.Pause.Seconds()} }

// State is the user as carried, its pause included.
func (c Carry) State() policy.User {
	u := c.User
	u.Pause = time.Duration(c.PauseSeconds * float64(time.Second))
	return u
}

// maxCarriedText bounds UMC's answer in a carried line: the line must stay
// far below tail's Buffer_Max_Size and the queue file small.
const maxCarriedText = 300

// CarryLine is the line that carries username over, with what is known.
func CarryLine(usernameKey, username string, c Carry) []byte {
	c.LastAnswer = cut(c.LastAnswer, maxCarriedText)
	c.LastUMC = cut(c.LastUMC, maxCarriedText)
	c.Reason = cut(c.Reason, 2*maxCarriedText)
	raw, _ := json.Marshal(c) // strings and times always encode
	var fields map[string]any
	_ = json.Unmarshal(raw, &fields)
	fields[usernameKey] = username
	line, _ := json.Marshal(fields)
	return append(line, '\n')
}

// Carried returns what a carried-over line says, and whether the record is
// one: a JSON line (or, with tail's Parser json, fields) holding
// "first_seen", or an older version's "charged" (its age is not known).
func (r Record) Carried() (Carry, bool) {
	var raw []byte
	if line, hasLog := r.String("log"); hasLog {
		if !strings.HasPrefix(strings.TrimSpace(line), "{") {
			return Carry{}, false
		}
		raw = []byte(line)
	} else {
		// Most records carry nothing: answered from the fields themselves,
		// without encoding them to JSON and back.
		_, isNew := r.Fields["first_seen"]
		_, isOld := r.Fields["charged"]
		if !isNew && !isOld {
			return Carry{}, false
		}
		var err error
		if raw, err = json.Marshal(r.Fields); err != nil {
			return Carry{}, false
		}
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(raw, &probe) != nil {
		return Carry{}, false
	}
	_, isNew := probe["first_seen"]
	_, isOld := probe["charged"]
	if !isNew && !isOld {
		return Carry{}, false
	}
	var c Carry
	if isNew && json.Unmarshal(raw, &c) != nil {
		return Carry{}, false
	}
	if isOld {
		var old struct {
			Refused string `json:"refused"`
		}
		_ = json.Unmarshal(raw, &old)
		c.Refused = old.Refused
	}
	if c.PauseSeconds < 0 || c.PauseSeconds > 1e7 {
		c.PauseSeconds = 0
	}
	return c, true
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

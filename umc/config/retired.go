package config

import (
	"errors"
	"strings"
)

// Retired are keys the plugin no longer reads, with what replaced them: a
// config still setting one is refused at start rather than silently run by
// rules it does not describe.
var Retired = map[string]string{
	"Max_Attempts": "users are no longer ended by a count of failures: a user waits, with a growing pause, " +
		"until UMC serves it, refuses it by evidence, or it is Max_Age old; remove Max_Attempts and set " +
		"Chunk_Retry_Limit equal to this output's Retry_Limit instead",
	"Remove_Processed": "a delivered user's queue file is always removed where there is a Queue_Dir (a file left " +
		"behind would be sent again after a restart), and there is nothing to remove without one; remove Remove_Processed",
}

// RetiredKey returns the message for a retired key name, case-insensitively.
func RetiredKey(name string) (string, bool) {
	for k, msg := range Retired {
		if strings.EqualFold(k, name) {
			return msg, true
		}
	}
	return "", false
}

func retired(g Getter, file map[string]string) error {
	for name, msg := range Retired {
		_, inFile := file[strings.ToLower(name)]
		if strings.TrimSpace(g.Get(name)) != "" || inFile {
			return &KeyError{name, errors.New(msg)}
		}
	}
	return nil
}

// SPDX-License-Identifier: MIT

package config

import (
	"fmt"
	"os"
	"strings"
)

// AccessWarning is wg-quick's warning for a configuration file that others
// may read: "" unless cfg holds a PrivateKey or PresharedKey and the file
// at path grants its group or others any access (read, or write, which
// lets them swap keys and hooks). The daemon logs it at start-up and at
// every reload.
func AccessWarning(path string, cfg *Config) string {
	var held []string
	if !cfg.Interface.PrivateKey.IsZero() {
		held = append(held, "PrivateKey")
	}
	for i := range cfg.Peers {
		if !cfg.Peers[i].PresharedKey.IsZero() {
			held = append(held, "PresharedKey")
			break
		}
	}
	if len(held) == 0 {
		return ""
	}
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	var who string
	switch perm := st.Mode().Perm(); {
	case perm&0o007 != 0:
		who = "world accessible"
	case perm&0o070 != 0:
		who = "accessible by its group"
	default:
		return ""
	}
	return fmt.Sprintf("`%s' is %s (mode %04o) and holds the %s", path, who, st.Mode().Perm(), strings.Join(held, " and "))
}

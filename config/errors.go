// SPDX-License-Identifier: MIT

package config

import (
	"strconv"
	"strings"
)

// Error is the only error type returned by this package. It locates a
// problem in a configuration file: File is the name the configuration was
// parsed under (or the path being read or written), Line is the 1-based line
// number (0 when the problem is not tied to one line), Key is the canonical
// name of the offending key ("" when none applies) and Msg describes the
// problem. Msg never contains private or preshared key material.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
	// Err is an underlying error (for example from the file system), if any.
	Err error
}

// Error formats the error as "file:line: Key: message", leaving out the
// parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// safeName returns s if it looks like a key or section name, and a
// placeholder otherwise. It keeps text that might be a pasted key out of
// error messages.
func safeName(s string) string {
	if len(s) == 0 || len(s) > 24 {
		return "(not shown)"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "(not shown)"
		}
	}
	return s
}

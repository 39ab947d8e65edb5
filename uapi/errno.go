// SPDX-License-Identifier: MIT

package uapi

import (
	"errors"
	"fmt"
	"syscall"
)

// Errno is an error with the errno reported to the client. Device
// implementations return it (for example Errorf(ErrnoPortInUse, ...)) to
// choose the errno; any other error is reported as ErrnoUnknown, except a
// bare syscall.Errno, which is reported as itself.
//
// Messages must not contain key material: they are logged.
type Errno struct {
	Code syscall.Errno // positive errno value
	Err  error         // what went wrong
}

// Errorf returns an *Errno with code and a message formatted like
// fmt.Errorf (so %w wraps).
func Errorf(code syscall.Errno, format string, args ...any) *Errno {
	return &Errno{Code: code, Err: fmt.Errorf(format, args...)}
}

func (e *Errno) Error() string {
	if e.Err == nil {
		return "uapi: " + e.Code.Error()
	}
	return fmt.Sprintf("uapi: %v (%s)", e.Err, e.Code.Error())
}

// Unwrap returns the underlying error.
func (e *Errno) Unwrap() error { return e.Err }

// Is reports whether target is the same syscall.Errno, so that
// errors.Is(err, syscall.EINVAL) works.
func (e *Errno) Is(target error) bool {
	code, ok := target.(syscall.Errno)
	return ok && code == e.Code
}

// ErrnoOf returns the positive errno that err is reported as; 0 for nil.
func ErrnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e *Errno
	if errors.As(err, &e) && e.Code != 0 {
		return e.Code
	}
	var code syscall.Errno
	if errors.As(err, &code) && code != 0 {
		return code
	}
	return ErrnoUnknown
}

// wireErrno is the value written after "errno=": negated, as wireguard-go
// writes it.
func wireErrno(err error) int64 {
	return -int64(ErrnoOf(err))
}

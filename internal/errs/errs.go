// Package errs defines the coded errors that the service layer returns.
//
// A coded error carries the Alibaba Cloud error code, the HTTP status and a
// message that says what to fix. The api package maps them to the wire format
// once; any other error becomes InternalError.
package errs

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an error with an Alibaba-style code.
type Error struct {
	Code    string // e.g. "InvalidVpcId.NotFound"
	Status  int    // HTTP status
	Message string // what went wrong and what to fix
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New builds a coded error.
func New(status int, code, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// As returns the coded error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// HasCode reports whether err is a coded error with the given code.
func HasCode(err error, code string) bool {
	e, ok := As(err)
	return ok && e.Code == code
}

// MissingParameter: a required parameter is absent.
func MissingParameter(name string) *Error {
	return New(http.StatusBadRequest, "MissingParameter",
		"The input parameter %q that is mandatory for processing this request is not supplied.", name)
}

// InvalidParameter: a parameter is malformed or out of range. The code is
// "InvalidParameter" unless a more specific code is given with InvalidParam.
func InvalidParameter(name, format string, args ...any) *Error {
	return New(http.StatusBadRequest, "InvalidParameter",
		"The specified parameter %q is not valid: %s", name, fmt.Sprintf(format, args...))
}

// InvalidParam returns a 400 with a specific code such as "InvalidCidrBlock.Malformed".
func InvalidParam(code, format string, args ...any) *Error {
	return New(http.StatusBadRequest, code, format, args...)
}

// NotFound returns a 404 with a specific code such as "InvalidVpcId.NotFound".
func NotFound(code, format string, args ...any) *Error {
	return New(http.StatusNotFound, code, format, args...)
}

// DependencyViolation: the resource is still used by another.
func DependencyViolation(format string, args ...any) *Error {
	return New(http.StatusForbidden, "DependencyViolation", format, args...)
}

// Forbidden returns a 403 with a specific code (e.g. "IncorrectVpcStatus", "QuotaExceed.SecurityGroup").
func Forbidden(code, format string, args ...any) *Error {
	return New(http.StatusForbidden, code, format, args...)
}

// Quota returns a 403 quota error with the given code (e.g. "QuotaExceeded.Rules").
func Quota(code, format string, args ...any) *Error {
	return New(http.StatusForbidden, code, format, args...)
}

// Conflict returns a 400 for a request that conflicts with existing state
// (e.g. "InvalidCidrBlock.Overlapped", "InvalidIpAddress.AlreadyUsed").
func Conflict(code, format string, args ...any) *Error {
	return New(http.StatusBadRequest, code, format, args...)
}

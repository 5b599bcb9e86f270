package api

import (
	"encoding/json"
	"net/http"

	"github.com/palisade-project/palisade/internal/errs"
)

// ErrorResponse encodes err in the cloud's error shape, as the server
// answers it: the HTTP status, the error code and the body. An error that
// is not a coded error (package errs) is an internal one: internal is true,
// the code is InternalError and the message generic, so that the caller
// logs the cause (with reqID) and the client never sees it.
func ErrorResponse(err error, reqID, host string) (status int, code string, body []byte, internal bool) {
	e, ok := errs.As(err)
	if !ok {
		e = errs.New(http.StatusInternalServerError, "InternalError",
			"The request processing has failed due to some unknown error, exception or failure.")
	}
	b, _ := json.Marshal(errorBody{
		RequestId: reqID,
		HostId:    host,
		Code:      e.Code,
		Message:   truncateMessage(e.Message),
		Recommend: "",
	})
	return e.Status, e.Code, b, !ok
}

// OKResponse encodes a handler's response with RequestId added as its
// first field, as the server answers it (resp must encode as a JSON
// object, or be nil).
func OKResponse(resp any, reqID string) ([]byte, error) {
	return withRequestID(resp, reqID)
}

// NewRequestID returns a new request ID, shaped like the cloud's.
func NewRequestID() string { return newRequestID() }

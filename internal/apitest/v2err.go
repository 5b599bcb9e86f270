package apitest

import (
	stderrors "errors"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
)

// v2Err unwraps the V2 SDK's errors (status and code come from the JSON
// error body). The openapi client returns *tea.SDKError; *dara.SDKError is
// the newer type some code paths use.
func v2Err(err error) (status int, code string, ok bool) {
	var te *tea.SDKError
	if stderrors.As(err, &te) {
		return tea.IntValue(te.StatusCode), tea.StringValue(te.Code), true
	}
	var de *dara.SDKError
	if stderrors.As(err, &de) {
		return dara.IntValue(de.StatusCode), dara.StringValue(de.Code), true
	}
	return 0, "", false
}

package api_test

import (
	stderrors "errors"
	"maps"
	"net/netip"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/model"
)

// TestRegisterZoneUnderlay: RegisterZone's UnderlayAddress and
// UnderlayPort reach the store through the router; bad ones come back as
// Alibaba errors (HTTP 400, Code, Message naming the parameter, RequestId)
// and change nothing; an agent key sets its own zone's underlay only.
func TestRegisterZoneUnderlay(t *testing.T) {
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory))
	out, status, code := palisadeCall(t, env, env.Admin, "CreateAccessKey", map[string]string{"AgentZoneId": "local-b"})
	if status != 200 {
		t.Fatalf("CreateAccessKey: %d %s", status, code)
	}
	agent := apitest.Creds{AccessKeyID: out["AccessKeyId"].(string), Secret: out["AccessKeySecret"].(string), AccountID: env.Admin.AccountID}

	for _, tc := range []struct {
		name   string
		caller apitest.Creds
		params map[string]string
		status int
		code   string
		param  string // named in the message
	}{
		{"not an address", env.Admin, map[string]string{"ZoneId": "local-b", "UnderlayAddress": "x"}, 400, "InvalidParameter.UnderlayAddress", "UnderlayAddress"},
		{"loopback", env.Admin, map[string]string{"ZoneId": "local-b", "UnderlayAddress": "127.0.0.1"}, 400, "InvalidParameter.UnderlayAddress", "UnderlayAddress"},
		{"ipv6 with a zone", env.Admin, map[string]string{"ZoneId": "local-b", "UnderlayAddress": "fe80::1%eth0"}, 400, "InvalidParameter.UnderlayAddress", "UnderlayAddress"},
		{"port 0", env.Admin, map[string]string{"ZoneId": "local-b", "UnderlayAddress": "10.0.0.2", "UnderlayPort": "0"}, 400, "InvalidParameter.UnderlayPort", "UnderlayPort"},
		{"port not a number", env.Admin, map[string]string{"ZoneId": "local-b", "UnderlayAddress": "10.0.0.2", "UnderlayPort": "abc"}, 400, "InvalidParameter.UnderlayPort", "UnderlayPort"},
		{"agent key for another zone", agent, map[string]string{"ZoneId": "local-c", "UnderlayAddress": "10.0.0.3"}, 403, "Forbidden.AgentZone", "local-c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Snapshot(t)
			_, err := env.Common(t, tc.caller, api.VersionPalisade, "RegisterZone", tc.params)
			if status, code := apitest.ServerErr(t, err); status != tc.status || code != tc.code {
				t.Fatalf("got %d %s, want %d %s", status, code, tc.status, tc.code)
			}
			var se *errors.ServerError
			if !stderrors.As(err, &se) {
				t.Fatalf("not an SDK server error: %T", err)
			}
			if se.RequestId() == "" || !strings.Contains(se.Message(), tc.param) {
				t.Errorf("error body: RequestId %q, Message %q (want it to name %s)", se.RequestId(), se.Message(), tc.param)
			}
			if after := env.Snapshot(t); !maps.Equal(before, after) {
				t.Error("a refused RegisterZone changed the store")
			}
		})
	}

	// The agent key announces its zone's underlay.
	if _, status, code := palisadeCall(t, env, agent, "RegisterZone", map[string]string{"ZoneId": "local-b", "UnderlayAddress": "2001:db8::2", "UnderlayPort": "4800"}); status != 200 {
		t.Fatalf("RegisterZone with an underlay: %d %s", status, code)
	}
	want := model.Underlay{ZoneID: "local-b", Addr: netip.MustParseAddr("2001:db8::2"), Port: 4800}
	raw, ok := env.Snapshot(t)[model.PrefixUnderlay+"local-b"]
	if !ok || !strings.Contains(raw, `"addr":"2001:db8::2"`) || !strings.Contains(raw, `"port":4800`) || !strings.Contains(raw, `"zone_id":"local-b"`) {
		t.Errorf("underlay record %q (present %v), want %+v", raw, ok, want)
	}
	// Another zone cannot take it.
	_, status, code = palisadeCall(t, env, env.Admin, "RegisterZone", map[string]string{"ZoneId": "local-c", "UnderlayAddress": "2001:db8::2", "UnderlayPort": "4800"})
	if status != 400 || code != "InvalidParameter.UnderlayAddress" {
		t.Errorf("a second zone on the same underlay: %d %s, want 400 InvalidParameter.UnderlayAddress", status, code)
	}
	// A heartbeat without one removes it.
	if _, status, code := palisadeCall(t, env, agent, "RegisterZone", map[string]string{"ZoneId": "local-b"}); status != 200 {
		t.Fatalf("RegisterZone without an underlay: %d %s", status, code)
	}
	if raw, ok := env.Snapshot(t)[model.PrefixUnderlay+"local-b"]; ok {
		t.Errorf("underlay left after a heartbeat without one: %s", raw)
	}
}

package service

import (
	"encoding/json"
	"testing"
)

// Every create action's input is fingerprinted for ClientToken: each must
// encode as JSON (a field that does not would make every request with a
// token fail).
func TestClientTokenParamsEncode(t *testing.T) {
	ipv6 := 3
	for _, in := range []any{
		AllocateEipInput{ClientToken: "t"}, ENISpec{PrimaryIP: "10.0.0.5", SecondaryIPs: []string{"10.0.0.6"}},
		RunInstancesInput{ClientToken: "t"}, CreateNetworkAclInput{ClientToken: "t"}, CreateSecurityGroupInput{ClientToken: "t"},
		[]RuleSpec{{IpProtocol: "tcp", PortRange: "22/22"}}, CreateVpcInput{ClientToken: "t"}, CreateVSwitchInput{ClientToken: "t", Ipv6Index: &ipv6},
	} {
		if _, err := json.Marshal(in); err != nil {
			t.Errorf("%T: %v", in, err)
		}
	}
}

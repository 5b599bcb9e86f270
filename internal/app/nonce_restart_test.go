package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
)

// signedRequest is a request as captured on the wire, to be sent again
// byte for byte (Host included) to whatever address the server has now.
type signedRequest struct {
	rawQuery string
	host     string
	header   http.Header
	body     []byte
}

func (r signedRequest) send(t *testing.T, endpoint string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+endpoint+"/?"+r.rawQuery, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.header.Clone()
	req.Host = r.host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body struct{ Code string }
	_ = json.Unmarshal(raw, &body)
	if resp.StatusCode != http.StatusOK && body.Code == "" {
		t.Fatalf("status %d without a code: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, body.Code
}

// v1CreateSG signs CreateSecurityGroup with signature 1.0 (as the V1 SDK).
func v1CreateSG(c apitest.Creds, host, vpcID, name, nonce string, at time.Time) signedRequest {
	p := map[string]string{
		"Action": "CreateSecurityGroup", "Version": api.VersionECS, "Format": "JSON", "AccessKeyId": c.AccessKeyID,
		"SignatureMethod": api.SigMethodV1, "SignatureVersion": "1.0", "SignatureType": "",
		"SignatureNonce": nonce, "Timestamp": at.UTC().Format("2006-01-02T15:04:05Z"), "RegionId": apitest.Region,
		"VpcId": vpcID, "SecurityGroupName": name,
	}
	p["Signature"] = api.SignV1(c.Secret, api.StringToSignV1(http.MethodPost, p))
	q := url.Values{}
	for k, v := range p {
		q.Set(k, v)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return signedRequest{rawQuery: q.Encode(), host: host, header: h}
}

// acs3CreateSG signs CreateSecurityGroup with ACS3-HMAC-SHA256 (as the V2
// SDK: Action and Version in headers, Host signed).
func acs3CreateSG(c apitest.Creds, host, vpcID, name, nonce string, at time.Time) signedRequest {
	query := map[string]string{"RegionId": apitest.Region, "VpcId": vpcID, "SecurityGroupName": name}
	h := http.Header{}
	h.Set("x-acs-action", "CreateSecurityGroup")
	h.Set("x-acs-version", api.VersionECS)
	h.Set("x-acs-date", at.UTC().Format("2006-01-02T15:04:05Z"))
	h.Set("x-acs-signature-nonce", nonce)
	h.Set("x-acs-content-sha256", api.HashPayload(nil))
	signed := []string{"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"}
	sts := api.StringToSignACS3(http.MethodPost, "/", query, host, h, signed, api.HashPayload(nil))
	h.Set("Authorization", fmt.Sprintf("%s Credential=%s,SignedHeaders=%s,Signature=%s",
		api.AlgoACS3, c.AccessKeyID, strings.Join(signed, ";"), api.SignACS3(c.Secret, sts)))
	q := url.Values{}
	for k, v := range query {
		q.Set(k, v)
	}
	return signedRequest{rawQuery: q.Encode(), host: host, header: h}
}

func countGroups(t *testing.T, env *apitest.Env, c apitest.Creds) int {
	t.Helper()
	resp, err := env.ECS(t, c).DescribeSecurityGroups(ecs.CreateDescribeSecurityGroupsRequest())
	if err != nil {
		t.Fatal(err)
	}
	return resp.TotalCount
}

// TestNonceReplayAcrossRestart is the QA finding: a signed request with
// a fixed nonce and timestamp is accepted once; after a restart of the
// server on the same data (bolt) it is still refused with
// SignatureNonceUsed, for V1 and for ACS3 signatures, and no second
// security group is created.
func TestNonceReplayAcrossRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var (
		alice    apitest.Creds
		v1, acs3 signedRequest
	)
	t.Run("first run", func(t *testing.T) {
		env := apitest.Start(t, apitest.WithDataDir(dir), apitest.WithLogger(quiet)) // stops at the end of the subtest
		alice = env.NewAccount(t, "alice")
		vreq := vpc.CreateCreateVpcRequest()
		vreq.CidrBlock = "10.0.0.0/16"
		vresp, err := env.VPC(t, alice).CreateVpc(vreq)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		v1 = v1CreateSG(alice, env.Endpoint, vresp.VpcId, "v1", "5bc0b798a266c5ac00b77ec9ce43865e", now)
		acs3 = acs3CreateSG(alice, env.Endpoint, vresp.VpcId, "acs3", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", now)
		for _, r := range []struct {
			name string
			req  signedRequest
		}{{"V1", v1}, {"ACS3", acs3}} {
			if status, code := r.req.send(t, env.Endpoint); status != http.StatusOK {
				t.Fatalf("%s first use: %d %s", r.name, status, code)
			}
			if status, code := r.req.send(t, env.Endpoint); status != http.StatusBadRequest || code != "SignatureNonceUsed" {
				t.Fatalf("%s replay: %d %s, want 400 SignatureNonceUsed", r.name, status, code)
			}
		}
		if n := countGroups(t, env, alice); n != 2 {
			t.Fatalf("alice has %d groups, want 2", n)
		}
	})
	if t.Failed() {
		return
	}
	t.Run("after restart", func(t *testing.T) {
		env := apitest.Start(t, apitest.WithDataDir(dir), apitest.WithLogger(quiet))
		for _, r := range []struct {
			name string
			req  signedRequest
		}{{"V1", v1}, {"ACS3", acs3}} {
			if status, code := r.req.send(t, env.Endpoint); status != http.StatusBadRequest || code != "SignatureNonceUsed" {
				t.Errorf("%s replay after restart: %d %s, want 400 SignatureNonceUsed", r.name, status, code)
			}
		}
		if n := countGroups(t, env, alice); n != 2 {
			t.Errorf("alice has %d groups after the replays, want 2", n)
		}
		// The key and the clock are fine: a fresh nonce is accepted.
		fresh := v1CreateSG(alice, env.Endpoint, "", "fresh", "00000000000000000000000000000001", time.Now())
		if status, code := fresh.send(t, env.Endpoint); code != "MissingVpcId" && code != "MissingParameter" {
			t.Errorf("fresh nonce: %d %s, want the missing VpcId (past authentication)", status, code)
		}
	})
}

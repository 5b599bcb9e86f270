package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"
)

// publishedParams are the inputs of Alibaba's published signature example.
func publishedParams(timestampKey string) map[string]string {
	return map[string]string{
		"AccessKeyId":      "testid",
		timestampKey:       "2016-02-23T12:46:24Z",
		"Format":           "XML",
		"Action":           "DescribeRegions",
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureNonce":   "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
		"Version":          "2014-05-26",
		"SignatureVersion": "1.0",
	}
}

func TestSignV1Vectors(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		params  map[string]string
		secret  string
		wantSTS string // "" = not checked
		wantSig string
	}{
		{name: "published, key TimeStamp", method: "GET", params: publishedParams("TimeStamp"), secret: "testsecret",
			wantSig: "CT9X0VtwR86fNWSnsc6v8YGOjuE="},
		{name: "published, key Timestamp", method: "GET", params: publishedParams("Timestamp"), secret: "testsecret",
			wantSTS: "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26",
			wantSig: "OLeaidS1JvxuMvnyHOwuJ+uX5qY="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts := StringToSignV1(tt.method, tt.params)
			if tt.wantSTS != "" && sts != tt.wantSTS {
				t.Errorf("string to sign\n got %s\nwant %s", sts, tt.wantSTS)
			}
			if got := SignV1(tt.secret, sts); got != tt.wantSig {
				t.Errorf("signature = %s, want %s", got, tt.wantSig)
			}
		})
	}
}

// TestSignV1Captured replays requests captured from the V1 SDK
// (ALIBABA_API.md section 5, secret "testSecret/with+odd=chars"): spaces,
// '*', '~', UTF-8, '/' and the empty SignatureType must all round-trip.
func TestSignV1Captured(t *testing.T) {
	const secret = "testSecret/with+odd=chars"
	tests := []struct {
		method, rawQuery, wantSTS string
	}{
		{"POST", "AccessKeyId=LTAItestAccessKeyId&Action=CreateSecurityGroup&Description=probe%3A+spaces%2C+%2A%2C+~+and+unicode+%C3%A9&Format=JSON&RegionId=cn-hangzhou&SecurityGroupName=web+sg%2A~&Signature=Lw7xUNukJBhMQPhziutx0FOWRuI%3D&SignatureMethod=HMAC-SHA1&SignatureNonce=5bc0b798a266c5ac00b77ec9ce43865e&SignatureType=&SignatureVersion=1.0&Tag.1.Key=env&Tag.1.Value=test&Timestamp=2026-11-24T16%3A19%3A55Z&Version=2014-05-26&VpcId=vpc-emu000001",
			"POST&%2F&AccessKeyId%3DLTAItestAccessKeyId%26Action%3DCreateSecurityGroup%26Description%3Dprobe%253A%2520spaces%252C%2520%252A%252C%2520~%2520and%2520unicode%2520%25C3%25A9%26Format%3DJSON%26RegionId%3Dcn-hangzhou%26SecurityGroupName%3Dweb%2520sg%252A~%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D5bc0b798a266c5ac00b77ec9ce43865e%26SignatureType%3D%26SignatureVersion%3D1.0%26Tag.1.Key%3Denv%26Tag.1.Value%3Dtest%26Timestamp%3D2026-11-24T16%253A19%253A55Z%26Version%3D2014-05-26%26VpcId%3Dvpc-emu000001"},
		{"POST", "AccessKeyId=LTAItestAccessKeyId&Action=AuthorizeSecurityGroup&Format=JSON&IpProtocol=udp&PortRange=53%2F53&Priority=5&RegionId=cn-hangzhou&SecurityGroupId=sg-emu000001&Signature=TeReqB5nTJKE30%2BiFAutp0zVNzg%3D&SignatureMethod=HMAC-SHA1&SignatureNonce=28023fc54202afee0238bddcb5068827&SignatureType=&SignatureVersion=1.0&SourceCidrIp=0.0.0.0%2F0&Timestamp=2026-11-24T16%3A19%3A55Z&Version=2014-05-26",
			"POST&%2F&AccessKeyId%3DLTAItestAccessKeyId%26Action%3DAuthorizeSecurityGroup%26Format%3DJSON%26IpProtocol%3Dudp%26PortRange%3D53%252F53%26Priority%3D5%26RegionId%3Dcn-hangzhou%26SecurityGroupId%3Dsg-emu000001%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D28023fc54202afee0238bddcb5068827%26SignatureType%3D%26SignatureVersion%3D1.0%26SourceCidrIp%3D0.0.0.0%252F0%26Timestamp%3D2026-11-24T16%253A19%253A55Z%26Version%3D2014-05-26"},
		{"GET", "AccessKeyId=LTAItestAccessKeyId&Action=ServerBusy&Format=JSON&RegionId=cn-hangzhou&Signature=SgzppYAg9lxLQByIzmJ9nnjEVhw%3D&SignatureMethod=HMAC-SHA1&SignatureNonce=89871459493b861bbceae9651666af8d&SignatureType=&SignatureVersion=1.0&Timestamp=2026-11-24T16%3A19%3A55Z&Version=2014-05-26",
			"GET&%2F&AccessKeyId%3DLTAItestAccessKeyId%26Action%3DServerBusy%26Format%3DJSON%26RegionId%3Dcn-hangzhou%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D89871459493b861bbceae9651666af8d%26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2026-11-24T16%253A19%253A55Z%26Version%3D2014-05-26"},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.rawQuery)
		if err != nil {
			t.Fatal(err)
		}
		p := map[string]string{}
		for k, v := range q {
			p[k] = v[0]
		}
		sts := StringToSignV1(tt.method, p)
		if sts != tt.wantSTS {
			t.Errorf("%s: string to sign\n got %s\nwant %s", p["Action"], sts, tt.wantSTS)
		}
		if got := SignV1(secret, sts); got != p["Signature"] {
			t.Errorf("%s: signature = %s, want %s", p["Action"], got, p["Signature"])
		}
		// One changed character anywhere must change the signature.
		p["PortRange"] = "54/54"
		if got := SignV1(secret, StringToSignV1(tt.method, p)); got == p["Signature"] {
			t.Errorf("%s: tampered params still match", p["Action"])
		}
	}
}

// TestACS3AgainstSDK checks the server's ACS3 computation against the V2
// SDK's own signer (openapiutil.GetAuthorization).
func TestACS3AgainstSDK(t *testing.T) {
	const ak, secret = "LTAIacs3test", "s3cr3t/+="
	query := map[string]string{
		"RegionId": "local", "Description": "a b*c~d/é", "Empty": "", "Tag.1.Key": "env",
	}
	headers := map[string]string{
		"host":                  "127.0.0.1:8787",
		"x-acs-action":          "DescribeRegions",
		"x-acs-version":         "2014-05-26",
		"x-acs-date":            "2026-11-25T05:00:00Z",
		"x-acs-signature-nonce": "abc123",
		"x-acs-content-sha256":  HashPayload(nil),
		"content-type":          "application/x-www-form-urlencoded",
		"user-agent":            "ignored",
	}
	dq := map[string]*string{}
	for k, v := range query {
		dq[k] = dara.String(v)
	}
	dh := map[string]*string{}
	hdr := http.Header{}
	for k, v := range headers {
		dh[k] = dara.String(v)
		if k != "host" {
			hdr.Set(k, v)
		}
	}
	req := dara.NewRequest()
	req.Method = dara.String("POST")
	req.Pathname = dara.String("/")
	req.Query = dq
	req.Headers = dh
	want := dara.StringValue(openapiutil.GetAuthorization(req, dara.String(AlgoACS3),
		dara.String(HashPayload(nil)), dara.String(ak), dara.String(secret)))

	a, err := ParseACS3Authorization(want)
	if err != nil {
		t.Fatalf("parse %q: %v", want, err)
	}
	if a.Credential != ak {
		t.Errorf("credential = %q, want %q", a.Credential, ak)
	}
	sts := StringToSignACS3("POST", "/", query, headers["host"], hdr, a.SignedHeaders, HashPayload(nil))
	if got := SignACS3(secret, sts); got != a.Signature {
		t.Errorf("signature = %s, SDK's = %s", got, a.Signature)
	}
	if got := SignACS3("wrong", sts); got == a.Signature {
		t.Errorf("wrong secret gives the same signature")
	}
	query["Description"] = "tampered"
	if got := SignACS3(secret, StringToSignACS3("POST", "/", query, headers["host"], hdr, a.SignedHeaders, HashPayload(nil))); got == a.Signature {
		t.Errorf("tampered query gives the same signature")
	}
}

func TestParseACS3Authorization(t *testing.T) {
	good := "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-date,Signature=ABCDEF"
	a, err := ParseACS3Authorization(good)
	if err != nil {
		t.Fatal(err)
	}
	if a.Credential != "AK" || strings.Join(a.SignedHeaders, ";") != "host;x-acs-date" || a.Signature != "abcdef" {
		t.Errorf("parsed %+v", a)
	}
	for _, bad := range []string{
		"",
		"ACS3-HMAC-SHA256",
		"ACS3-HMAC-SM3 Credential=AK,SignedHeaders=host,Signature=ab",
		"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host",
		"ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=ab",
		"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;;x,Signature=ab",
		"ACS3-HMAC-SHA256 Credential=AK,Credential=BK,SignedHeaders=host,Signature=ab",
		"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=ab,Extra=1",
		"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature",
	} {
		if _, err := ParseACS3Authorization(bad); err == nil {
			t.Errorf("ParseACS3Authorization(%q) accepted", bad)
		}
	}
}

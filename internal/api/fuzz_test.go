package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
)

// fuzzHandler is a Server whose only key is testKeyID, for fuzzing the
// whole request path in-process.
func fuzzHandler() *Server {
	rt := NewRouter()
	rt.Handle(VersionECS, "Echo", func(_ context.Context, r *Request) (any, error) {
		return map[string]any{"Params": r.Params}, nil
	})
	keys := func(_ context.Context, id string) (model.AccessKey, model.Account, error) {
		if id != testKeyID {
			return model.AccessKey{}, model.Account{}, errs.NotFound("InvalidAccessKeyId.NotFound", "not found")
		}
		return model.AccessKey{ID: id, Secret: testSecret, AccountID: testAcct}, model.Account{ID: testAcct}, nil
	}
	return NewServer(ServerOptions{Router: rt, Keys: keys, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// checkResponse asserts the response is a JSON object and, when it is an
// error, has string Code and Message.
func checkResponse(t *testing.T, rec *httptest.ResponseRecorder) {
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("response is not a JSON object: %v: %q", err, rec.Body.String())
	}
	if rec.Code != 200 {
		if _, ok := body["Code"].(string); !ok {
			t.Fatalf("error without a string Code: %s", rec.Body.String())
		}
	}
}

func FuzzStringToSignV1(f *testing.F) {
	f.Add("GET", "AccessKeyId=testid&Action=DescribeRegions&Format=XML&SignatureMethod=HMAC-SHA1&SignatureNonce=3ee8c1b8&SignatureVersion=1.0&TimeStamp=2016-02-23T12%3A46%3A24Z&Version=2014-05-26")
	f.Add("POST", "Description=probe%3A+spaces%2C+%2A%2C+~+and+unicode+%C3%A9&SignatureType=&Tag.1.Key=env")
	f.Add("POST", "a=%zz&b")
	f.Add("GET", "%E0%80%AF=%FF&&=&Signature=x")
	srv := fuzzHandler()
	f.Fuzz(func(t *testing.T, method, rawQuery string) {
		q, err := url.ParseQuery(rawQuery)
		if err == nil {
			p := map[string]string{}
			for k, v := range q {
				p[k] = v[0]
			}
			sts := StringToSignV1(method, p)
			if sts != StringToSignV1(method, p) {
				t.Fatal("string to sign is not deterministic")
			}
			// Signing then verifying round-trips, and Signature is never signed.
			p["Signature"] = SignV1("k", sts)
			if StringToSignV1(method, p) != sts {
				t.Fatal("Signature parameter changed the string to sign")
			}
		}
		if method != "GET" && method != "POST" {
			method = "POST"
		}
		req := httptest.NewRequest(method, "/", nil)
		req.URL.RawQuery = rawQuery
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		checkResponse(t, rec)
	})
}

func FuzzParseACS3Authorization(f *testing.F) {
	f.Add("ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-date,Signature=abc")
	f.Add("ACS3-HMAC-SHA256 Credential=,,,SignedHeaders=;;,Signature")
	f.Add("ACS3-")
	f.Add("ACS3-HMAC-SHA256 Credential=AK=1,SignedHeaders=HOST,Signature==")
	srv := fuzzHandler()
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseACS3Authorization(h)
		if err == nil {
			if a.Credential == "" || a.Signature == "" || len(a.SignedHeaders) == 0 {
				t.Fatalf("accepted incomplete header %q: %+v", h, a)
			}
			for _, s := range a.SignedHeaders {
				if s == "" || s != strings.ToLower(s) {
					t.Fatalf("bad signed header name %q in %q", s, h)
				}
			}
		}
		// The whole request path must not panic either.
		req := httptest.NewRequest(http.MethodPost, "/?Name=1", strings.NewReader("A=1"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", h)
		req.Header.Set("x-acs-action", "Echo")
		req.Header.Set("x-acs-version", VersionECS)
		req.Header.Set("x-acs-date", time.Now().UTC().Format("2006-01-02T15:04:05Z"))
		req.Header.Set("x-acs-signature-nonce", "n")
		req.Header.Set("x-acs-content-sha256", HashPayload([]byte("A=1")))
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		checkResponse(t, rec)
	})
}

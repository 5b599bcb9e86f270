package api

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Signature algorithms understood by the server.
const (
	// AlgoACS3 is the V3 signature of the alibabacloud-go (V2) SDKs.
	AlgoACS3 = "ACS3-HMAC-SHA256"
	// SigMethodV1 is the only SignatureMethod of signature version 1.0.
	SigMethodV1 = "HMAC-SHA1"
)

// percentEncode is Alibaba's RFC 3986 encoding: url.QueryEscape with
// space as %20, '*' as %2A and '~' left alone.
func percentEncode(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "+", "%20")
	e = strings.ReplaceAll(e, "*", "%2A")
	return strings.ReplaceAll(e, "%7E", "~")
}

// StringToSignV1 builds the signature 1.0 string to sign from the decoded
// parameters (query and form merged). Signature is left out; empty values
// (the V1 SDK always sends "SignatureType=") are kept, since the client
// signs them.
func StringToSignV1(method string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(percentEncode(k))
		b.WriteByte('=')
		b.WriteString(percentEncode(params[k]))
	}
	return method + "&" + percentEncode("/") + "&" + percentEncode(b.String())
}

// SignV1 returns base64(HMAC-SHA1(secret+"&", stringToSign)).
func SignV1(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// ACS3Auth is a parsed "Authorization: ACS3-HMAC-SHA256 ..." header.
type ACS3Auth struct {
	Algorithm     string
	Credential    string   // AccessKeyId
	SignedHeaders []string // lower-case, in the order given
	Signature     string   // lower-case hex
}

// errBadAuthorization is returned for an Authorization header that is not
// a well-formed ACS3 header.
var errBadAuthorization = errors.New("api: malformed Authorization header")

// ParseACS3Authorization parses
// "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex".
// Every part is required; unknown parts are rejected so that a typo cannot
// silently drop a field.
func ParseACS3Authorization(h string) (ACS3Auth, error) {
	algo, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || algo != AlgoACS3 {
		return ACS3Auth{}, errBadAuthorization
	}
	a := ACS3Auth{Algorithm: algo}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || seen[k] {
			return ACS3Auth{}, errBadAuthorization
		}
		seen[k] = true
		switch k {
		case "Credential":
			a.Credential = v
		case "SignedHeaders":
			for name := range strings.SplitSeq(v, ";") {
				if name == "" {
					return ACS3Auth{}, errBadAuthorization
				}
				a.SignedHeaders = append(a.SignedHeaders, strings.ToLower(name))
			}
		case "Signature":
			a.Signature = strings.ToLower(v)
		default:
			return ACS3Auth{}, errBadAuthorization
		}
	}
	if a.Credential == "" || len(a.SignedHeaders) == 0 || a.Signature == "" {
		return ACS3Auth{}, errBadAuthorization
	}
	return a, nil
}

// CanonicalQueryACS3 is the ACS3 canonical query string: keys sorted,
// keys and values percent-encoded, "k=" for empty values. The SDKs do not
// encode keys, which changes nothing for the names they send (letters,
// digits, '.', '-', '_'); encoding them keeps a name that holds '=' or '&'
// (decoded from "%3D", "%26" in the raw query) from rendering like several
// parameters, which would let a signature made for one query verify
// another with signed parameters taken away.
func CanonicalQueryACS3(query map[string]string) string {
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(percentEncode(k))
		b.WriteByte('=')
		b.WriteString(percentEncode(query[k]))
	}
	return b.String()
}

// canonicalHeadersACS3 renders "name:value\n" for each signed header, in
// sorted order; several values of one header are sorted and joined with
// ','. The Host header lives in r.Host, not r.Header.
func canonicalHeadersACS3(host string, hdr http.Header, signed []string) (canonical, signedList string) {
	names := append([]string(nil), signed...)
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		var vals []string
		if name == "host" {
			vals = []string{host}
		} else {
			for _, v := range hdr.Values(name) {
				vals = append(vals, strings.TrimSpace(v))
			}
			sort.Strings(vals)
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(strings.Join(vals, ","))
		b.WriteByte('\n')
	}
	return b.String(), strings.Join(names, ";")
}

// StringToSignACS3 builds the ACS3 string to sign for a request whose query
// parameters are query, whose signed headers are signed and whose body hash
// (hex SHA-256, as sent in x-acs-content-sha256) is payloadHash.
func StringToSignACS3(method, path string, query map[string]string, host string, hdr http.Header, signed []string, payloadHash string) string {
	if path == "" {
		path = "/"
	}
	headers, signedList := canonicalHeadersACS3(host, hdr, signed)
	canonicalRequest := method + "\n" + path + "\n" + CanonicalQueryACS3(query) + "\n" +
		headers + "\n" + signedList + "\n" + payloadHash
	sum := sha256.Sum256([]byte(canonicalRequest))
	return AlgoACS3 + "\n" + hex.EncodeToString(sum[:])
}

// SignACS3 returns hex(HMAC-SHA256(secret, stringToSign)).
func SignACS3(secret, stringToSign string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

// HashPayload returns hex(SHA-256(body)) as sent in x-acs-content-sha256.
func HashPayload(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Package fakeecr serves the one ECR call ops needs, GetAuthorizationToken,
// in its documented AWS JSON 1.1 wire format, so that the real aws-sdk-go-v2
// client can be driven against it with a custom endpoint. Requests must carry
// a valid SigV4 signature made with the configured secret key.
package fakeecr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Target is the X-Amz-Target of GetAuthorizationToken.
const Target = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"

// Server answers GetAuthorizationToken with a token that carries the
// registry credentials Username:Password, as ECR's tokens carry AWS:<password>.
type Server struct {
	AccessKeyID     string
	SecretAccessKey string
	Region          string
	Username        string
	Password        string
	ProxyEndpoint   string
	TTL             time.Duration    // token lifetime; 12h when zero
	Now             func() time.Time // clock; time.Now when nil

	calls atomic.Int64
}

// Calls reports how many tokens were issued.
func (s *Server) Calls() int64 { return s.calls.Load() }

type apiError struct {
	status int
	kind   string
	msg    string
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, &apiError{400, "SerializationException", "cannot read body"})
		return
	}
	if e := s.check(r, body); e != nil {
		writeError(w, e)
		return
	}
	ttl := s.TTL
	if ttl == 0 {
		ttl = 12 * time.Hour
	}
	s.calls.Add(1)
	token := base64.StdEncoding.EncodeToString([]byte(s.Username + ":" + s.Password))
	out := map[string]any{
		"authorizationData": []map[string]any{{
			"authorizationToken": token,
			"expiresAt":          float64(s.now().Add(ttl).Unix()),
			"proxyEndpoint":      s.ProxyEndpoint,
		}},
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) check(r *http.Request, body []byte) *apiError {
	if r.Method != http.MethodPost {
		return &apiError{405, "UnknownOperationException", "method not allowed"}
	}
	if t := r.Header.Get("X-Amz-Target"); t != Target {
		return &apiError{400, "UnknownOperationException", fmt.Sprintf("unknown operation %q", t)}
	}
	auth := r.Header.Get("Authorization")
	cred, signed, sig, ok := parseAuth(auth)
	if !ok {
		return &apiError{403, "MissingAuthenticationTokenException", "missing or malformed Authorization header"}
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[3] != "ecr" || parts[4] != "aws4_request" {
		return &apiError{403, "IncompleteSignatureException", "malformed credential scope"}
	}
	if parts[0] != s.AccessKeyID {
		return &apiError{403, "UnrecognizedClientException", "The security token included in the request is invalid."}
	}
	if s.Region != "" && parts[2] != s.Region {
		return &apiError{403, "InvalidSignatureException", fmt.Sprintf("credential should be scoped to a valid region, not %q", parts[2])}
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return &apiError{403, "IncompleteSignatureException", "missing X-Amz-Date"}
	}
	if d := s.now().Sub(when); d > 15*time.Minute || d < -15*time.Minute {
		return &apiError{403, "InvalidSignatureException", "Signature expired"}
	}
	want, err := s.sign(r, body, signed, parts[2], when)
	if err != nil {
		return &apiError{400, "SerializationException", err.Error()}
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
		return &apiError{403, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."}
	}
	return nil
}

// sign recomputes the signature over the headers the client said it signed.
func (s *Server) sign(r *http.Request, body []byte, signed []string, region string, when time.Time) (string, error) {
	req, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Host = r.Host
	req.ContentLength = r.ContentLength
	for _, h := range signed {
		switch h {
		case "host", "content-length":
			continue
		}
		if v, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
			req.Header[http.CanonicalHeaderKey(h)] = v
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecr", region, when); err != nil {
		return "", err
	}
	_, _, sig, _ := parseAuth(req.Header.Get("Authorization"))
	return sig, nil
}

func parseAuth(h string) (cred string, signed []string, sig string, ok bool) {
	rest, found := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !found {
		return "", nil, "", false
	}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = strings.Split(v, ";")
		case "Signature":
			sig = v
		}
	}
	return cred, signed, sig, cred != "" && sig != "" && len(signed) > 0
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.kind)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.kind, "message": e.msg})
}

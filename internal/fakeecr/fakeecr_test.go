package fakeecr

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

func TestGetAuthorizationTokenThroughTheSDK(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	s := &Server{AccessKeyID: "AKIATEST", SecretAccessKey: "s3cret", Region: "ap-northeast-1",
		Username: "AWS", Password: "regpass", ProxyEndpoint: "https://1.dkr.ecr.ap-northeast-1.amazonaws.com", Now: func() time.Time { return now }}
	srv := httptest.NewServer(s)
	defer srv.Close()
	client := func(akid, secret, region string) *ecr.Client {
		return ecr.New(ecr.Options{
			Region: region, BaseEndpoint: aws.String(srv.URL),
			Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
		})
	}
	ctx := context.Background()
	out, err := client("AKIATEST", "s3cret", "ap-northeast-1").GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	ad := out.AuthorizationData[0]
	tok, _ := base64.StdEncoding.DecodeString(aws.ToString(ad.AuthorizationToken))
	if string(tok) != "AWS:regpass" {
		t.Errorf("token %q", tok)
	}
	if !aws.ToTime(ad.ExpiresAt).Equal(now.Add(12 * time.Hour)) {
		t.Errorf("expires %v", ad.ExpiresAt)
	}
	if aws.ToString(ad.ProxyEndpoint) != s.ProxyEndpoint {
		t.Errorf("proxy endpoint %q", aws.ToString(ad.ProxyEndpoint))
	}
	if s.Calls() != 1 {
		t.Errorf("calls %d", s.Calls())
	}
	for _, tc := range []struct{ name, akid, secret, region, want string }{
		{"wrong secret", "AKIATEST", "wrong", "ap-northeast-1", "InvalidSignatureException"},
		{"unknown key", "AKIAOTHER", "s3cret", "ap-northeast-1", "UnrecognizedClientException"},
		{"wrong region", "AKIATEST", "s3cret", "us-west-2", "InvalidSignatureException"},
	} {
		_, err := client(tc.akid, tc.secret, tc.region).GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "403") {
			t.Errorf("%s: %v, want 403 %s", tc.name, err, tc.want)
		}
	}
	if s.Calls() != 1 {
		t.Errorf("refused calls issued tokens: %d", s.Calls())
	}
	// Unsigned and unknown operations.
	resp, err := http.Post(srv.URL, "application/x-amz-json-1.1", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("no target: %d", resp.StatusCode)
	}
}

func TestClockSkewIsRefused(t *testing.T) {
	s := &Server{AccessKeyID: "AKIATEST", SecretAccessKey: "s3cret", Region: "us-east-1",
		Now: func() time.Time { return time.Now().Add(time.Hour) }}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := ecr.New(ecr.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIATEST", "s3cret", ""), RetryMaxAttempts: 1})
	_, err := c.GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{})
	if err == nil || !strings.Contains(err.Error(), "Signature expired") {
		t.Errorf("skewed request: %v", err)
	}
}

package registry

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/smithy-go"

	"github.com/ops-team/ops/internal/atomicfile"
)

// ECR gets registry credentials from ECR's GetAuthorizationToken.
type ECR struct {
	Region   string // empty: from the host name, then the AWS config
	Endpoint string // empty: AWS's own
	Profile  string // empty: the SDK's default chain
	CacheDir string // empty: no cache
	Now      func() time.Time
	Log      io.Writer
}

type cachedToken struct {
	Username  string    `json:"username"`
	Password  string    `json:"password"`
	Proxy     string    `json:"proxy_endpoint"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (e ECR) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Auth returns credentials for host, from the cache while a token is in the
// first half of its life, else from ECR.
func (e ECR) Auth(ctx context.Context, host string) (Auth, error) {
	region := e.Region
	if region == "" {
		if _, r, ok := ParseECRHost(host); ok {
			region = r
		}
	}
	opts := []func(*awsconfig.LoadOptions) error{}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if e.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(e.Profile))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return Auth{}, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return Auth{}, errors.New("no AWS region for ECR: set registry.ecr_region or AWS_REGION")
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return Auth{}, fmt.Errorf("no AWS credentials (environment, shared profile, SSO or instance role): %v", rootCause(err))
	}
	key := cacheKey(host, e.Endpoint, cfg.Region, e.Profile, creds.AccessKeyID)
	if tok, ok := e.load(key); ok {
		return Auth{Username: tok.Username, Password: tok.Password, ServerAddress: host, Source: "ECR (cached token)"}, nil
	}
	client := ecr.NewFromConfig(cfg, func(o *ecr.Options) {
		if e.Endpoint != "" {
			o.BaseEndpoint = aws.String(e.Endpoint)
		}
	})
	out, err := client.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return Auth{}, describeAWS(err)
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
		return Auth{}, errors.New("ECR returned no authorization data")
	}
	ad := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(ad.AuthorizationToken))
	if err != nil {
		return Auth{}, fmt.Errorf("ECR token is not base64: %w", err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return Auth{}, errors.New("ECR token is not user:password")
	}
	tok := cachedToken{Username: user, Password: pass, Proxy: aws.ToString(ad.ProxyEndpoint), IssuedAt: e.now(), ExpiresAt: aws.ToTime(ad.ExpiresAt)}
	if err := e.store(key, tok); err != nil && e.Log != nil {
		fmt.Fprintln(e.Log, "ops: warning: ECR token not cached:", err)
	}
	return Auth{Username: user, Password: pass, ServerAddress: host, Source: "ECR"}, nil
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func describeAWS(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("ECR GetAuthorizationToken: %s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return fmt.Errorf("ECR GetAuthorizationToken: %v", rootCause(err))
}

func cacheKey(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:16])
}

func (e ECR) load(key string) (cachedToken, bool) {
	if e.CacheDir == "" {
		return cachedToken{}, false
	}
	b, err := os.ReadFile(filepath.Join(e.CacheDir, key+".json"))
	if err != nil {
		return cachedToken{}, false
	}
	var t cachedToken
	if json.Unmarshal(b, &t) != nil || t.Password == "" {
		return cachedToken{}, false
	}
	half := t.IssuedAt.Add(t.ExpiresAt.Sub(t.IssuedAt) / 2)
	return t, e.now().Before(half)
}

func (e ECR) store(key string, t cachedToken) error {
	if e.CacheDir == "" {
		return nil
	}
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return atomicfile.Write(e.CacheDir, key+".json", b)
}

// Package registry finds credentials for an image registry: ECR tokens
// through aws-sdk-go-v2 (cached on disk until half their life), or the
// Docker client configuration (auths and credential helpers).
package registry

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/distribution/reference"
	dockerregistry "github.com/docker/docker/api/types/registry"
)

// Auth is what the Docker API needs to reach a registry.
type Auth struct {
	Username, Password string
	ServerAddress      string
	Source             string // where it came from, for messages
}

// Encode gives the X-Registry-Auth value of the Docker API.
func (a Auth) Encode() (string, error) {
	b, err := json.Marshal(dockerregistry.AuthConfig{Username: a.Username, Password: a.Password, ServerAddress: a.ServerAddress})
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// Host is the registry host of an image reference ("docker.io" for Hub).
func Host(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	return reference.Domain(named), nil
}

// ecrHost is amazon-ecr-credential-helper's pattern of ECR registry hosts.
var ecrHost = regexp.MustCompile(`^(\d{12})\.dkr[\.\-]ecr(\-fips)?\.([a-zA-Z0-9][a-zA-Z0-9-_]*)\.(amazonaws\.com(\.cn)?|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$`)

// ParseECRHost reports whether host is an ECR registry, and its region.
func ParseECRHost(host string) (account, region string, ok bool) {
	m := ecrHost.FindStringSubmatch(host)
	if m == nil {
		return "", "", false
	}
	return m[1], m[3], true
}

package registry

import (
	"fmt"

	"github.com/docker/cli/cli/config"
)

// DockerConfig reads credentials for host from the Docker client config in
// dir (empty: $DOCKER_CONFIG or ~/.docker), credential helpers included.
func DockerConfig(dir, host string) (Auth, error) {
	if dir == "" {
		dir = config.Dir()
	}
	cf, err := config.Load(dir)
	if err != nil {
		return Auth{}, fmt.Errorf("docker config %s: %w", dir, err)
	}
	ac, err := cf.GetAuthConfig(host)
	if err != nil {
		return Auth{}, fmt.Errorf("credentials for %s from %s: %w", host, dir, err)
	}
	if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" {
		return Auth{ServerAddress: host, Source: "none"}, nil
	}
	return Auth{Username: ac.Username, Password: ac.Password, ServerAddress: host, Source: "docker config " + dir}, nil
}

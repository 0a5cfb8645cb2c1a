package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Fixed names of what the lab creates outside its state directory. They are
// prefixed so that nothing of the machine's own is ever touched.
const (
	RunDir      = "/run/ops-lab"
	OpUser      = "opslab-op"
	TargetUser  = "opslab-deploy"
	DockerGroup = "opslab-docker"
	Bridge      = "opslab0"
	bridgeCIDR  = "172.29.213.1/24"
	SudoersFile = "/etc/sudoers.d/opslab"
	// MackerelAgentConf is the operation server's agent config, which
	// remote-container mounts by default; labConfMark starts the lab's.
	MackerelAgentConf = "/etc/mackerel-agent/mackerel-agent.conf"
	labConfMark       = "# ops-lab:"
	BaseImage         = "debian:bookworm-slim"
	RegistryUser      = "AWS" // ECR tokens carry AWS:<password>
	AWSRegion         = "us-east-1"
)

// Target is one lab host: a real sshd on its own loopback address.
type Target struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	Port    int    `json:"port"`
	HostKey string `json:"host_key"` // authorized_keys format
}

// State is everything the lab started and created, saved as the lab comes up
// so that a failed or later `down` knows exactly what to remove.
type State struct {
	Dir                string   `json:"dir"`
	Procs              []Proc   `json:"procs"`
	LocalEngineStarted bool     `json:"local_engine_started"`
	CreatedUsers       []string `json:"created_users"`
	CreatedGroups      []string `json:"created_groups"`
	CreatedBridge      bool     `json:"created_bridge"`
	CreatedFiles       []string `json:"created_files"`

	RegistryAddr     string `json:"registry_addr"`
	RegistryPassword string `json:"registry_password"`
	ECRAddr          string `json:"ecr_addr"`
	MackerelAddr     string `json:"mackerel_addr"`
	AWSAccessKeyID   string `json:"aws_access_key_id"`
	AWSSecretKey     string `json:"aws_secret_access_key"`
	MackerelAPIKey   string `json:"mackerel_api_key"`

	OpServerAddr   string `json:"opserver_addr"`
	OpServerSocket string `json:"opserver_docker_socket"`
	MackerelConf   string `json:"mackerel_conf"`
	AgentSock      string `json:"agent_sock"`
	OperatorKey    string `json:"operator_key"` // public, authorized_keys format

	Targets        []Target `json:"targets"`
	BecomePassword string   `json:"become_password"`
}

func statePath(dir string) string { return filepath.Join(dir, "state.json") }

// Load reads the lab's state from dir.
func Load(dir string) (*State, error) {
	b, err := os.ReadFile(statePath(dir))
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", statePath(dir), err)
	}
	return &st, nil
}

func (st *State) save() error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := statePath(st.Dir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, statePath(st.Dir))
}

// Proc returns the recorded process of that name.
func (st *State) Proc(name string) (Proc, bool) {
	for _, p := range st.Procs {
		if p.Name == name {
			return p, true
		}
	}
	return Proc{}, false
}

// Running reports whether every recorded process is alive.
func (st *State) Running() bool {
	if len(st.Procs) == 0 {
		return false
	}
	for _, p := range st.Procs {
		if !p.Alive() {
			return false
		}
	}
	return true
}

func (st *State) ConfigPath() string    { return filepath.Join(st.Dir, "ops.yaml") }
func (st *State) InventoryPath() string { return filepath.Join(st.Dir, "inventory.ini") }
func (st *State) KnownHosts() string    { return filepath.Join(st.Dir, "known_hosts") }
func (st *State) OpServerDest() string  { return OpUser + "@" + st.OpServerAddr }

// Env returns the lab's environment as ordered name/value pairs.
func (st *State) Env() [][2]string {
	return [][2]string{
		{"OPS_CONFIG", st.ConfigPath()},
		{"SSH_AUTH_SOCK", st.AgentSock},
		{"AWS_ACCESS_KEY_ID", st.AWSAccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", st.AWSSecretKey},
		{"AWS_REGION", AWSRegion},
		{"AWS_EC2_METADATA_DISABLED", "true"}, // the lab never asks an instance-metadata service
		{"MACKEREL_APIBASE", "http://" + st.MackerelAddr},
		{"MACKEREL_APIKEY", st.MackerelAPIKey},
		{"OPS_LAB_DIR", st.Dir},
		{"OPS_LAB_BECOME_PASSWORD", st.BecomePassword},
		{"OPS_LAB_INVENTORY", st.InventoryPath()},
		{"OPS_LAB_KNOWN_HOSTS", st.KnownHosts()},
		{"OPS_LAB_OPSERVER", st.OpServerDest()},
		{"OPS_LAB_OPSERVER_DOCKER_SOCKET", st.OpServerSocket},
		{"OPS_LAB_REGISTRY", st.RegistryAddr},
		{"OPS_LAB_ECR_ENDPOINT", "http://" + st.ECRAddr},
		{"OPS_LAB_TARGET_USER", TargetUser},
		{"OPS_LAB_MACKEREL_CONF", st.MackerelConf},
	}
}

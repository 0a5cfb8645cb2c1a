package ansible

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Conn is how ops reaches one host, from its connection variables
// (templated). A field is empty when no variable sets it.
type Conn struct {
	Host           string // ansible_host, ansible_ssh_host
	Port           int    // ansible_port, ansible_ssh_port
	User           string // ansible_user, ansible_ssh_user
	PrivateKeyFile string // ansible_ssh_private_key_file, ansible_private_key_file
	Become         *bool  // ansible_become
	BecomeUser     string // ansible_become_user, ansible_sudo_user
	BecomeMethod   string // ansible_become_method: only sudo
	Connection     string // ansible_connection: only ssh or smart
	SSHCommonArgs  string // ansible_ssh_common_args
	SSHExtraArgs   string // ansible_ssh_extra_args
}

// Aliases in the order Ansible reads them: when several are set, the last
// one wins (ansible_ssh_host over ansible_host), as the ssh connection
// plugin's option lookup does.
var (
	hostVars     = []string{"ansible_host", "ansible_ssh_host"}
	portVars     = []string{"ansible_port", "ansible_ssh_port"}
	userVars     = []string{"ansible_user", "ansible_ssh_user"}
	keyVars      = []string{"ansible_private_key_file", "ansible_ssh_private_key_file"}
	passwordVars = []string{"ansible_password", "ansible_ssh_pass", "ansible_ssh_password"}
)

// Templar is the inventory's Templar (extend it with AddFilter/AddTest).
func (inv *Inventory) Templar() *Templar { return inv.templar }

// Var is one variable of a host, templated. ok is false when unset.
func (inv *Inventory) Var(host, name string) (any, bool, error) {
	vars, err := inv.TemplateVars(host)
	if err != nil {
		return nil, false, err
	}
	return inv.varFrom(host, name, vars)
}

func (inv *Inventory) varFrom(host, name string, vars map[string]any) (any, bool, error) {
	raw, ok := vars[name]
	if !ok || raw == nil {
		return nil, false, nil
	}
	v, err := inv.Templar().RenderValue(raw, vars)
	if err != nil {
		var ve *VaultError
		if errors.As(err, &ve) {
			if ve.Var == "" {
				ve.Var = name
			}
			return nil, false, fmt.Errorf("host %s: %v", host, ve)
		}
		return nil, false, fmt.Errorf("host %s: variable %s: %v", host, name, err)
	}
	return v, v != nil, nil
}

// Connection resolves the host's connection variables. Settings ops
// cannot honour are errors naming the host: a password (ops logs in with
// keys only), a become method other than sudo, a connection other than
// ssh.
func (inv *Inventory) Connection(host string) (Conn, error) {
	var c Conn
	vars, err := inv.TemplateVars(host)
	if err != nil {
		return c, err
	}
	last := func(names []string) (string, any, error) {
		var name string
		var val any
		for _, n := range names {
			v, ok, err := inv.varFrom(host, n, vars)
			if err != nil {
				return "", nil, err
			}
			if ok {
				name, val = n, v
			}
		}
		return name, val, nil
	}
	str := func(names ...string) (string, error) {
		_, v, err := last(names)
		if err != nil || v == nil {
			return "", err
		}
		return pyStr(v), nil
	}
	for _, n := range passwordVars {
		if v, ok := vars[n]; ok && v != nil {
			return c, fmt.Errorf("host %s: %s is set: ops logs in with keys only", host, n)
		}
	}
	if c.Host, err = str(hostVars...); err != nil {
		return c, err
	}
	name, port, err := last(portVars)
	if err != nil {
		return c, err
	}
	if port != nil {
		n, err := pyIntOf(port)
		if err != nil || n < 1 || n > 65535 {
			return c, fmt.Errorf("host %s: %s %s is not a port number", host, name, pyStr(port))
		}
		c.Port = n
	}
	if c.User, err = str(userVars...); err != nil {
		return c, err
	}
	if c.PrivateKeyFile, err = str(keyVars...); err != nil {
		return c, err
	}
	if _, b, err := last([]string{"ansible_become"}); err != nil {
		return c, err
	} else if b != nil {
		v, err := Boolean(b)
		if err != nil {
			return c, fmt.Errorf("host %s: ansible_become: %v", host, err)
		}
		c.Become = &v
	}
	if c.BecomeUser, err = str("ansible_become_user", "ansible_sudo_user"); err != nil {
		return c, err
	}
	if c.BecomeMethod, err = str("ansible_become_method"); err != nil {
		return c, err
	}
	if c.BecomeMethod != "" && c.BecomeMethod != "sudo" {
		return c, fmt.Errorf("host %s: ansible_become_method %s: ops becomes with sudo only", host, c.BecomeMethod)
	}
	if c.Connection, err = str("ansible_connection"); err != nil {
		return c, err
	}
	if c.Connection != "" && c.Connection != "ssh" && c.Connection != "smart" {
		return c, fmt.Errorf("host %s: ansible_connection %s: ops connects with ssh only", host, c.Connection)
	}
	if c.SSHCommonArgs, err = str("ansible_ssh_common_args"); err != nil {
		return c, err
	}
	if c.SSHExtraArgs, err = str("ansible_ssh_extra_args"); err != nil {
		return c, err
	}
	return c, nil
}

// Boolean is Ansible's boolean(): yes/no, on/off, true/false, 1/0, y/n,
// t/f (any case), numbers 1 and 0.
func Boolean(v any) (bool, error) {
	switch v := v.(type) {
	case bool:
		return v, nil
	case nil:
		return false, nil
	case int:
		if v == 0 || v == 1 {
			return v == 1, nil
		}
	case float64:
		if v == 0 || v == 1 {
			return v == 1, nil
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "y", "yes", "on", "1", "true", "t", "1.0":
			return true, nil
		case "n", "no", "off", "0", "false", "f", "0.0", "":
			return false, nil
		}
	}
	return false, fmt.Errorf("%s is not a valid boolean", strconv.Quote(pyStr(v)))
}

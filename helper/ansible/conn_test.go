package ansible

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConnection(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		p = filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(s), 0o644)
	}
	write("hosts", `[web]
web1.example.com ansible_ssh_host=10.0.0.2 ansible_host=10.0.0.1
web2 ansible_password=x
web3 ansible_become_method=su
[web:vars]
ansible_user=deploy
`)
	write("group_vars/web.yml", "base_port: 2200\nansible_port: \"{{ base_port + 1 }}\"\nansible_ssh_private_key_file: ~/.ssh/{{ inventory_hostname_short }}\nansible_become: yes\n")
	write("host_vars/web1.example.com/vault.yml", "db_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\nansible_ssh_user: \"{{ db_password }}\"\n")
	inv, err := Open(context.Background(), Options{Sources: []string{filepath.Join(dir, "hosts")}, Basedir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// The vaulted value is only an error where it is needed.
	if _, err := inv.Connection("web1.example.com"); err == nil || !strings.Contains(err.Error(), "db_password") || !strings.Contains(err.Error(), "vault.yml") {
		t.Errorf("vaulted user: %v", err)
	}
	if _, err := inv.Connection("web2"); err == nil || !strings.Contains(err.Error(), "ansible_password") {
		t.Errorf("password: %v", err)
	}
	if _, err := inv.Connection("web3"); err == nil || !strings.Contains(err.Error(), "su") {
		t.Errorf("become method: %v", err)
	}
	os.Remove(filepath.Join(dir, "host_vars/web1.example.com/vault.yml"))
	inv, err = Open(context.Background(), Options{Sources: []string{filepath.Join(dir, "hosts")}, Basedir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := inv.Connection("web1.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "10.0.0.2" || c.Port != 2201 || c.User != "deploy" || c.PrivateKeyFile != "~/.ssh/web1" || c.Become == nil || !*c.Become {
		t.Errorf("connection %+v", c)
	}
}

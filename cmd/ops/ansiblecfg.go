package main

import (
	"fmt"
	"os"

	"github.com/ops-team/ops/helper/ansible"
)

// ansibleConfig is the ansible.cfg that ansible would read here, with the
// settings ops takes from it (and their ANSIBLE_* variables); its warnings
// (a world-writable directory's ansible.cfg ignored) go to stderr. A file
// Ansible would refuse is a usage error naming it.
func (d *deps) ansibleConfig() (*ansible.ConfigFile, error) {
	lookup := d.lookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	c, err := ansible.LoadConfig(lookup, "", "", ansible.ConfigSystemPath)
	if err != nil {
		return nil, usagef("ansible.cfg: %v", err)
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(d.err, "ops: warning: %s\n", w)
	}
	return c, nil
}

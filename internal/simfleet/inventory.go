package simfleet

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// HostName is host i's name in the inventories: h0000, h0001…
func HostName(i int) string { return fmt.Sprintf("h%04d", i) }

// WriteInventory writes into dir, for the fleet's hosts and user:
//   - inventory.ini: every host in [fleet] with ansible_host and
//     ansible_port; with faults, the hostile hosts also in a group per
//     fault (Fault.Group: [stall_open], [flood]…) and the others in
//     [healthy]; ansible_user in [all:vars];
//   - pssh-hosts: user@host:port a line;
//   - faults.json: the hostile hosts' faults, {"h0007": "stall-open", …}
//     ({} without faults).
func (f *Fleet) WriteInventory(dir, user string) error {
	var ini, pssh strings.Builder
	ini.WriteString("[fleet]\n")
	for i, a := range f.Addrs {
		host, p, _ := net.SplitHostPort(a)
		fmt.Fprintf(&ini, "%s ansible_host=%s ansible_port=%s\n", HostName(i), host, p)
		fmt.Fprintf(&pssh, "%s@%s:%s\n", user, host, p)
	}
	byName := map[string]Fault{}
	if len(f.Faults) > 0 {
		for _, ft := range Faults() {
			var members []string
			for i := range f.Addrs {
				if f.Faults[i] == ft {
					members = append(members, HostName(i))
					byName[HostName(i)] = ft
				}
			}
			if len(members) > 0 {
				fmt.Fprintf(&ini, "[%s]\n%s\n", ft.Group(), strings.Join(members, "\n"))
			}
		}
		ini.WriteString("[healthy]\n")
		for i := range f.Addrs {
			if f.Faults[i] == "" {
				fmt.Fprintf(&ini, "%s\n", HostName(i))
			}
		}
	}
	fmt.Fprintf(&ini, "[all:vars]\nansible_user=%s\n", user)
	js, err := json.MarshalIndent(byName, "", "  ")
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{
		"inventory.ini": []byte(ini.String()),
		"pssh-hosts":    []byte(pssh.String()),
		"faults.json":   append(js, '\n'),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

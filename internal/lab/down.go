package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Down stops every process the lab started (by pid and start time, newest
// first) and removes everything it created. Without a recorded state it
// still removes leftovers of the lab's fixed names.
func Down(ctx context.Context, o Options) error {
	st, err := Load(o.Dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		st = &State{Dir: o.Dir}
		fmt.Fprintln(o.Out, "lab: not running")
	}
	var errs []error
	for i := len(st.Procs) - 1; i >= 0; i-- {
		p := st.Procs[i]
		grace := 5 * time.Second
		if strings.HasSuffix(p.Name, "dockerd") {
			grace = 30 * time.Second
		}
		if err := p.stop(grace); err != nil {
			errs = append(errs, err)
		}
	}
	// What the processes left: sessions of the lab's users, the operation
	// server engine's containerd and shims.
	for _, u := range []string{OpUser, TargetUser} {
		if err := killUserProcs(u); err != nil {
			errs = append(errs, err)
		}
	}
	if err := killMatching(func(cmdline string) bool {
		return strings.Contains(cmdline, RunDir+"/") || strings.Contains(cmdline, o.Dir+"/")
	}); err != nil {
		errs = append(errs, err)
	}
	for _, dir := range []string{o.Dir, RunDir} {
		if err := unmountUnder(dir); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := os.Stat("/sys/class/net/" + Bridge); err == nil {
		if err := run(ctx, "ip", "link", "del", Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	for _, u := range []string{OpUser, TargetUser} {
		if run(ctx, "id", u) == nil {
			if err := run(ctx, "userdel", "-r", u); err != nil && !strings.Contains(err.Error(), "mail spool") {
				errs = append(errs, err)
			}
		}
	}
	if run(ctx, "getent", "group", DockerGroup) == nil {
		if err := run(ctx, "groupdel", DockerGroup); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range []string{SudoersFile, RunDir} {
		if err := os.RemoveAll(f); err != nil {
			errs = append(errs, err)
		}
	}
	// The lab's mackerel-agent.conf, never a real agent's.
	if b, err := os.ReadFile(MackerelAgentConf); err == nil && strings.HasPrefix(string(b), labConfMark) {
		if err := os.Remove(MackerelAgentConf); err != nil {
			errs = append(errs, err)
		}
		_ = os.Remove(filepath.Dir(MackerelAgentConf)) // only when empty
	}
	if err := os.RemoveAll(o.Dir); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 && len(st.Procs) > 0 {
		fmt.Fprintf(o.Out, "lab: stopped %d processes and removed %s\n", len(st.Procs), o.Dir)
	}
	return errors.Join(errs...)
}

// pids lists the numeric entries of /proc.
func pids() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n != os.Getpid() {
			out = append(out, n)
		}
	}
	return out
}

func killPids(list []int) error {
	if len(list) == 0 {
		return nil
	}
	for _, p := range list {
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		alive := 0
		for _, p := range list {
			if syscall.Kill(p, 0) == nil && !isZombie(p) {
				alive++
			}
		}
		if alive == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range list {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	return nil
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || len(s) <= i+2 || s[i+2] == 'Z'
}

func killMatching(match func(cmdline string) bool) error {
	var list []int
	for _, p := range pids() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if err != nil || len(b) == 0 {
			continue
		}
		if match(strings.ReplaceAll(string(b), "\x00", " ")) {
			list = append(list, p)
		}
	}
	return killPids(list)
}

func killUserProcs(user string) error {
	uid := lookupUID(user)
	if uid < 0 {
		return nil
	}
	var list []int
	for _, p := range pids() {
		var s syscall.Stat_t
		if syscall.Stat(fmt.Sprintf("/proc/%d", p), &s) == nil && int(s.Uid) == uid {
			list = append(list, p)
		}
	}
	return killPids(list)
}

func lookupUID(user string) int {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) > 2 && fields[0] == user {
			n, err := strconv.Atoi(fields[2])
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// Mounts lists mount points at or below dir, deepest first.
func Mounts(dir string) []string {
	dir = filepath.Clean(dir)
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return slices.Compact(out)
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

func unmountUnder(dir string) error {
	var errs []error
	for _, mp := range Mounts(dir) {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
}

// Status prints what runs and where.
func Status(w io.Writer, st *State) error {
	for _, p := range st.Procs {
		state := "running"
		if !p.Alive() {
			state = "DEAD"
		}
		fmt.Fprintf(w, "  %-22s pid %-7d %s\n", p.Name, p.Pid, state)
	}
	fmt.Fprintf(w, "  operation server  ssh %s (engine %s)\n", st.OpServerDest(), st.OpServerSocket)
	fmt.Fprintf(w, "  registry          %s (user %s)\n", st.RegistryAddr, RegistryUser)
	fmt.Fprintf(w, "  ECR token API     http://%s\n", st.ECRAddr)
	fmt.Fprintf(w, "  Mackerel API      http://%s\n", st.MackerelAddr)
	fmt.Fprintf(w, "  targets           %d hosts, %s@127.0.1.1..; sudo asks for a password\n", len(st.Targets), TargetUser)
	fmt.Fprintf(w, "  config            %s\n", st.ConfigPath())
	fmt.Fprintln(w, "  shell             eval \"$(make -s lab-env)\"")
	if !st.Running() {
		return errors.New("some lab processes are not running; run make lab-down && make lab-up")
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ops-team/ops/helper/runlog"
	"github.com/ops-team/ops/helper/sshx"
)

// secretEnv are variables whose values are masked wherever they appear.
var secretEnv = []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "MACKEREL_APIKEY", "MACKEREL_API_KEY"}

func (d *deps) logRepo(ctx context.Context) *runlog.Repo {
	wd, _ := os.Getwd()
	branch := d.cfg.String("log.project")
	if branch == "" {
		branch = runlog.ProjectOf(ctx, wd)
	}
	return &runlog.Repo{
		Dir: d.cfg.Path("log.dir"), Remote: d.cfg.String("log.remote"), Branch: runlog.BranchName(branch),
		GitSSH: sshx.Quote(d.self) + " ssh-git",
		// ssh-git reads the same configuration as this run: the file
		// of highest precedence, and the SSH keys as resolved here (a
		// per-user file under that one is not read by ssh-git).
		Env: []string{"OPS_CONFIG=" + d.cfg.File, "OPS_SSH_CONFIG=" + d.cfg.String("ssh.config"), "OPS_SSH_KNOWN_HOSTS=" + d.cfg.String("ssh.known_hosts")},
	}
}

func (d *deps) logMask() (*runlog.Mask, error) {
	m, err := runlog.NewMask(d.cfg.List("log.secret_patterns"))
	if err != nil {
		return nil, usagef("log.secret_patterns: %v", err)
	}
	if w := d.cfg.SecretPatternsWarning(); w != "" {
		fmt.Fprintf(d.err, "ops: warning: %s\n", w)
	}
	for _, name := range secretEnv {
		m.AddLiteral(d.getenv(name))
	}
	return m, nil
}

// recorded runs fn and records the run in the run log (unless log.enabled
// is off). Logging never changes the outcome: its problems are one warning.
func (d *deps) recorded(ctx context.Context, argv []string, fn func() error) error {
	if !d.cfg.Bool("log.enabled") {
		return fn()
	}
	mask, err := d.logMask()
	if err != nil {
		return err
	}
	tr := runlog.NewTranscript(64<<20, mask)
	if _, tty := d.stdinTerminal(); !tty {
		tr.Piped = true // a script wrote the answers ahead of the prompts
	}
	saved := d.streams
	d.in, d.out, d.err = tr.Reader(saved.in), tr.Writer(saved.out), tr.Writer(saved.err)
	host, _ := os.Hostname()
	h := &runlog.Header{
		Command: strings.Join(argv, " "), Argv: argv, User: localUser(), Host: host,
		OpsVersion: buildVersion(), Start: time.Now().UTC().Truncate(time.Millisecond),
	}
	d.header = h
	savedSecret := d.secret
	d.secret = mask.AddLiteral
	runErr := fn()
	d.streams, d.header, d.secret = saved, nil, savedSecret

	h.End = time.Now().UTC().Truncate(time.Millisecond)
	h.Duration = h.End.Sub(h.Start).Round(time.Millisecond).String()
	h.Exit = exitWord(ctx, runErr)
	transcript := tr.Bytes()
	if line := errorLine(ctx, runErr); line != "" {
		transcript = append(transcript, mask.Apply([]byte(line+"\n"))...)
	}
	if h.Hosts == nil && h.Exit != "interrupted" && runlog.RunsAnsiblePlaybook(argv) {
		// ops exec and ops play set the hosts themselves (in a container:
		// through the trusted channel, see sendResults); what a transcript
		// says is read only for Ansible's own recap.
		h.Hosts = runlog.PlayRecap(transcript)
	}
	// The entry is committed locally whatever happened (an interrupt
	// included); the push goes on in the background (logpush.go), and none
	// is started after a second interrupt.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	repo := d.logRepo(lctx)
	if _, err := repo.Save(lctx, runlog.Entry{Header: *h, Transcript: transcript}, mask); err != nil {
		fmt.Fprintf(d.err, "ops: warning: the run was not logged: %v\n", err)
		return runErr
	}
	if repo.Remote == "" {
		return runErr
	}
	pctx, stop := d.pushContext(ctx, lctx)
	defer stop()
	if w := pushWarning(lctx, repo, mask); w != "" {
		fmt.Fprint(d.err, w)
	}
	select {
	case <-pctx.Done():
		fmt.Fprintf(d.err, "ops: run logged locally; interrupted again, so not pushed (ops log push sends it)\n")
		return runErr
	default:
	}
	// The push goes on in the background; this run is over.
	if err := d.startPush(repo); err != nil {
		fmt.Fprintf(d.err, "ops: warning: run logged locally; the push is queued (ops log push sends it): %v\n", err)
	}
	return runErr
}

// pushContext bounds the log push: it is lctx, cancelled too by an
// interrupt that comes once the push is under way — the first one if the
// run itself was not interrupted, else the second. The entry is already
// committed locally; the push waits for nobody who wants to go.
func (d *deps) pushContext(run, lctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(lctx)
	select {
	case <-d.hurry:
		cancel()
		return ctx, cancel
	default:
	}
	interrupted := run.Done()
	if run.Err() != nil {
		interrupted = nil // the run's own interrupt came before: wait for the next
	}
	go func() {
		select {
		case <-d.hurry:
		case <-interrupted:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx, cancel
}

// exitWord is the header's exit: the code the process will exit with, or
// "interrupted".
func exitWord(ctx context.Context, err error) string {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return "interrupted" // whatever the command made of the interrupt
	}
	var ce commandExit
	if errors.As(err, &ce) {
		return strconv.Itoa(ce.code)
	}
	var lost *sshx.ConnectionLostError
	if errors.As(err, &lost) {
		return "interrupted"
	}
	return strconv.Itoa(exitCode(ctx, err, discard{}))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// errorLine is the line exitCode will print for err, if any.
func errorLine(ctx context.Context, err error) string {
	var b strings.Builder
	exitCode(ctx, err, &b)
	return strings.TrimRight(b.String(), "\n")
}

// sendResults gives the per-host results of this ops exec or ops play to
// the outer ops that runs it in a container (remote-container,
// local-container), which passed the run's nonce in runlog.ResultEnv: one
// line on stderr, marked with the nonce, that the outer ops removes from the
// output and records. A target never sees the nonce, so it cannot forge the
// line. A run that records itself sets d.header.Hosts instead.
func (d *deps) sendResults(hosts []runlog.HostResult) {
	if d.header != nil {
		return
	}
	if nonce := d.getenv(runlog.ResultEnv); nonce != "" {
		_, _ = d.err.Write(runlog.ResultLine(nonce, hosts))
	}
}

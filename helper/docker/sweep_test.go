package docker

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/system"
)

// fakeEngine lists what it holds (the engine's filters applied as the
// engine would) and records removals.
type fakeEngine struct {
	now     time.Time
	list    []container.Summary
	removed []string
	listed  container.ListOptions
}

func (f *fakeEngine) ContainerList(_ context.Context, o container.ListOptions) ([]container.Summary, error) {
	f.listed = o
	var out []container.Summary
	for _, c := range f.list {
		if _, ok := c.Labels[LabelRun]; ok && c.State == container.StateCreated {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeEngine) ContainerRemove(_ context.Context, id string, o container.RemoveOptions) error {
	if !o.Force {
		return errors.New("not forced")
	}
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeEngine) Info(context.Context) (system.Info, error) {
	return system.Info{SystemTime: f.now.Format(time.RFC3339Nano)}, nil
}

func TestSweepRemovesOnlyOldNeverStartedContainersOfADeadOps(t *testing.T) {
	// The engine's clock is an hour behind this machine's: ages are the engine's.
	now := time.Now().Add(-time.Hour)
	c := func(id string, state container.ContainerState, age time.Duration, hb string) container.Summary {
		labels := map[string]string{LabelRun: id, LabelCreated: strconv.FormatInt(now.Add(-age).Unix(), 10)}
		if hb != "" {
			labels[LabelHeartbeat] = hb
		}
		return container.Summary{ID: id, Names: []string{"/ops-" + id}, State: state, Created: now.Add(-age).Unix(), Labels: labels}
	}
	f := &fakeEngine{now: now, list: []container.Summary{
		c("orphan", container.StateCreated, 2*time.Minute, "/tmp/dead.sock"),
		c("orphan-no-heartbeat", container.StateCreated, 5*time.Minute, ""),
		c("young", container.StateCreated, 10*time.Second, "/tmp/dead.sock"),     // may still be starting
		c("uploading", container.StateCreated, 3*time.Minute, "/tmp/alive.sock"), // its ops answers: a long --copy
		c("running", container.StateRunning, time.Hour, ""),
		{ID: "not-ours", State: container.StateCreated, Created: now.Add(-time.Hour).Unix()},
	}}
	alive := func(hb string) bool { return hb == "/tmp/alive.sock" }
	removed, err := SweepNeverStarted(context.Background(), f, SweepOptions{Alive: alive})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(f.removed)
	if want := []string{"orphan", "orphan-no-heartbeat"}; !slices.Equal(f.removed, want) {
		t.Errorf("removed %v, want %v", f.removed, want)
	}
	if len(removed) != 2 || removed[0] != "ops-orphan" {
		t.Errorf("names %v", removed)
	}
	if !f.listed.All || f.listed.Filters.Get("label")[0] != LabelRun || f.listed.Filters.Get("status")[0] != "created" {
		t.Errorf("listed with %+v", f.listed)
	}
}

// Every container ops creates carries the labels the sweep reads.
func TestSpecLabelsEveryContainer(t *testing.T) {
	before := time.Now().Unix()
	cfg, _ := Spec{Labels: map[string]string{"io.ops.operator": "me"}, Heartbeat: "/tmp/x.sock"}.configs()
	n, err := strconv.ParseInt(cfg.Labels[LabelCreated], 10, 64)
	if len(cfg.Labels[LabelRun]) != 16 || err != nil || n < before || cfg.Labels[LabelHeartbeat] != "/tmp/x.sock" || cfg.Labels["io.ops.operator"] != "me" {
		t.Errorf("labels %v", cfg.Labels)
	}
	other, _ := Spec{}.configs()
	if other.Labels[LabelRun] == cfg.Labels[LabelRun] {
		t.Error("two containers share a run label")
	}
}

// Read-only mounts are mounts of type bind, never Binds: the engine refuses
// a missing source instead of creating it.
func TestReadOnlyMountsNeverCreateTheirSource(t *testing.T) {
	_, hc := Spec{Binds: []string{"/a:/a"}, ReadOnly: []ReadOnlyMount{{Source: "/etc/m.conf", Target: "/etc/m.conf"}}}.configs()
	if len(hc.Binds) != 1 || len(hc.Mounts) != 1 {
		t.Fatalf("binds %v mounts %v", hc.Binds, hc.Mounts)
	}
	m := hc.Mounts[0]
	if m.Type != "bind" || m.Source != "/etc/m.conf" || m.Target != "/etc/m.conf" || !m.ReadOnly || m.BindOptions != nil && m.BindOptions.CreateMountpoint {
		t.Errorf("%+v", m)
	}
}

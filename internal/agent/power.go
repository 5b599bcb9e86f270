package agent

import (
	"context"

	"github.com/palisade-project/palisade/internal/model"
)

// syncPower powers the local instances off and on when the Topology can
// (InstancePower): every Stopped instance is listed as stopped on every
// reconciliation, so whatever was started in it since the last one is
// killed (with a running server a stop is enforced within the debounce of
// its store event; a process started later by hand, within Resync). An
// instance is listed as running only when this agent set it stopped before,
// or on the first reconciliation (a mark left by an earlier run goes), so a
// host full of running instances costs nothing here.
func (a *Agent) syncPower(ctx context.Context, d *Desired) error {
	p, ok := a.cfg.Topology.(InstancePower)
	if !ok {
		return nil
	}
	power := map[string]bool{}
	stopped := map[string]bool{}
	for _, inst := range d.Instances {
		if inst.Status == model.InstanceStopped {
			power[inst.ID], stopped[inst.ID] = true, true
		} else if !a.powerSynced || a.stoppedSet[inst.ID] {
			power[inst.ID] = false
		}
	}
	if len(power) == 0 {
		a.powerSynced = true
		return nil
	}
	killed, err := p.SetInstancesStopped(ctx, power)
	for id, pids := range killed {
		a.log.Info("stopped instance: killed its processes", "instance", id, "pids", pids)
	}
	if err != nil {
		// Retried in full at the next reconciliation.
		a.powerSynced = false
		return err
	}
	a.powerSynced, a.stoppedSet = true, stopped
	return nil
}

package agent

import (
	"errors"
	"net"
	"path/filepath"
	"slices"

	"github.com/palisade-project/palisade/internal/mirror"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/store"
)

// buildMirrors returns, per VPC on the host, the local source ENIs of
// enabled traffic-mirror sessions with their sessions. A session is served
// where its source runs, to a target ENI in the same VPC on this host
// (a VPC's namespaces are one host's; a target elsewhere is reported once
// per reconciliation and skipped).
func (a *Agent) buildMirrors(tx store.ReadTxn, d *Desired) (map[string]mirror.View, error) {
	var sessions []model.MirrorSession
	if err := listAll(tx, model.PrefixMirrorSession, func(s model.MirrorSession) {
		if s.Enabled {
			sessions = append(sessions, s)
		}
	}); err != nil {
		return nil, err
	}
	out := map[string]mirror.View{}
	if len(sessions) == 0 {
		return out, nil
	}
	filters := map[string]model.MirrorFilter{}
	if err := listAll(tx, model.PrefixMirrorFilter, func(f model.MirrorFilter) { filters[f.ID] = f }); err != nil {
		return nil, err
	}
	local := map[string]model.ENI{}
	for _, e := range d.ENIs {
		local[e.ID] = e
	}
	perSource := map[string][]mirror.Session{}
	for _, s := range sessions {
		f, ok := filters[s.FilterID]
		if !ok {
			continue
		}
		target, ok := local[s.TargetID]
		var srcs []string
		for _, id := range s.SourceIDs {
			if _, isLocal := local[id]; isLocal {
				srcs = append(srcs, id)
			}
		}
		if len(srcs) == 0 {
			continue
		}
		if !ok || !target.PrimaryIP.Is4() {
			if a != nil {
				a.log.Warn("traffic-mirror target not on this host: session not served here", "session", s.ID, "target", s.TargetID)
			}
			continue
		}
		for _, id := range srcs {
			if local[id].VpcID != target.VpcID || id == target.ID {
				continue // refused by the API; never routed across VPCs
			}
			perSource[id] = append(perSource[id], mirror.Session{
				MirrorSession: policy.MirrorSession{ID: s.ID, Priority: s.Priority, Ingress: f.Ingress, Egress: f.Egress},
				VNI:           s.VNI, PacketLength: s.PacketLength,
				Target: target.PrimaryIP, TargetIf: a.ifName(target.ID),
			})
		}
	}
	for id, ss := range perSource {
		e := local[id]
		mac, _ := net.ParseMAC(e.MAC)
		pol := make([]policy.MirrorSession, len(ss))
		for i, s := range ss {
			pol[i] = s.MirrorSession
		}
		pol = policy.NewMirrorSessions(pol)
		sorted := make([]mirror.Session, 0, len(ss))
		for _, p := range pol {
			i := slices.IndexFunc(ss, func(s mirror.Session) bool { return s.ID == p.ID })
			s := ss[i]
			s.MirrorSession = p
			sorted = append(sorted, s)
		}
		v := out[e.VpcID]
		if v.Sources == nil {
			v.Sources = map[string]mirror.Source{}
		}
		v.Sources[a.ifName(id)] = mirror.Source{ENIID: id, Addr: e.PrimaryIP, MAC: mac, Sessions: sorted}
		out[e.VpcID] = v
	}
	return out, nil
}

func (a *Agent) ifName(eniID string) string { return a.cfg.IfName(eniID) }

// syncMirrors makes each VPC namespace's mirroring table and mirror match
// the desired views, after the programs are loaded. The table is checked
// on every reconciliation (drift is repaired); a VPC without sources has
// neither table nor mirror.
func (a *Agent) syncMirrors(views map[string]mirror.View, fwOK map[string]bool) error {
	var errs []error
	for vpc := range fwOK {
		v := views[vpc]
		path := filepath.Join("/run/netns", vpc)
		ifaces := make([]string, 0, len(v.Sources))
		for n := range v.Sources {
			ifaces = append(ifaces, n)
		}
		if len(ifaces) == 0 {
			a.stopMirror(vpc)
			if _, err := mirror.ApplyTable(path, nil); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if m := a.mirrors[vpc]; m != nil {
			m.Update(v)
		} else {
			m, err := mirror.Start(mirror.Config{VpcID: vpc, NetnsPath: path, Logger: a.cfg.Logger}, v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			a.mirrorMu.Lock()
			a.mirrors[vpc] = m
			a.mirrorMu.Unlock()
		}
		if changed, err := mirror.ApplyTable(path, ifaces); err != nil {
			errs = append(errs, err)
		} else if changed {
			a.log.Info("traffic-mirror table applied", "vpc", vpc, "sources", len(ifaces))
		}
	}
	for vpc := range a.mirrors {
		if _, ok := fwOK[vpc]; !ok && len(views[vpc].Sources) == 0 {
			a.stopMirror(vpc)
		}
	}
	return errors.Join(errs...)
}

// stopMirrors stops every mirror (the agent stops). The tables stay: with
// nobody reading their NFLOG group, the kernel drops the logged copies,
// and the traffic itself is untouched.
func (a *Agent) stopMirrors() {
	for vpc := range a.mirrors {
		a.stopMirror(vpc)
	}
}

func (a *Agent) stopMirror(vpc string) {
	a.mirrorMu.Lock()
	m := a.mirrors[vpc]
	delete(a.mirrors, vpc)
	a.mirrorMu.Unlock()
	if m != nil {
		m.Stop()
	}
}

// MirrorStats returns the mirror counters of a VPC.
func (a *Agent) MirrorStats(vpcID string) (mirror.Stats, bool) {
	a.mirrorMu.Lock()
	m := a.mirrors[vpcID]
	a.mirrorMu.Unlock()
	if m == nil {
		return mirror.Stats{}, false
	}
	return m.Stats(), true
}

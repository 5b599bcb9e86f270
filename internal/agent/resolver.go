package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netns"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netnsrun"
	"github.com/palisade-project/palisade/internal/resolver"
)

// resolvConfPath is the host's resolver configuration: the VPC resolvers
// forward what they do not own to those servers.
const resolvConfPath = "/etc/resolv.conf"

// dnsRecords are, per VPC on the host, the names of the PrivateLink
// endpoints it consumes: each endpoint's domain resolves to the addresses
// of all its zones, each zone's domain to that zone's. Endpoints are
// resolvable whatever their connection's state, as in the cloud.
func dnsRecords(s *snapshot, vpcs []dataplane.VPC) map[string]resolver.Records {
	out := make(map[string]resolver.Records, len(vpcs))
	for _, v := range vpcs {
		out[v.ID] = resolver.Records{}
	}
	for i := range s.endpoints {
		ep := &s.endpoints[i]
		recs, ok := out[ep.VpcID]
		if !ok || ep.Domain == "" {
			continue
		}
		var all []netip.Addr
		for _, z := range ep.Zones {
			if !z.Addr.IsValid() {
				continue
			}
			all = append(all, z.Addr)
			recs[strings.ToLower(ep.ZoneDomain(z.ZoneID))+"."] = []netip.Addr{z.Addr}
		}
		if len(all) > 0 {
			recs[strings.ToLower(ep.Domain)+"."] = all
		}
	}
	return out
}

// syncResolvers runs a DNS server in each VPC namespace of the host, on
// dataplane.ResolverAddr, with its records; a VPC that left the host
// loses its server. A server that cannot start now is tried again at the
// next reconciliation.
func (a *Agent) syncResolvers(d *Desired) error {
	if !a.cfg.Resolvers {
		return nil
	}
	var errs []error
	for id, s := range a.resolvers {
		if _, ok := d.DNS[id]; !ok {
			s.Close()
			delete(a.resolvers, id)
		}
	}
	for id, recs := range d.DNS {
		s := a.resolvers[id]
		if s != nil && s.ns != netnsInode(id) {
			// The namespace was made again (drift repair): the server's
			// sockets are in the old one.
			s.Close()
			s = nil
		}
		if s == nil {
			var err error
			if s, err = a.startResolver(id); err != nil {
				delete(a.resolvers, id)
				errs = append(errs, fmt.Errorf("dns of %s: %w", id, err))
				continue
			}
			a.resolvers[id] = s
		}
		s.SetRecords(recs)
	}
	return errors.Join(errs...)
}

// vpcResolver is a VPC's DNS server and the namespace it listens in.
type vpcResolver struct {
	*resolver.Server
	ns uint64 // the namespace file's inode
}

// netnsInode identifies the namespace named id (0 when absent).
func netnsInode(id string) uint64 {
	return netnsrun.Inode(filepath.Join("/run/netns", id))
}

func (a *Agent) startResolver(vpcID string) (*vpcResolver, error) {
	ino := netnsInode(vpcID)
	ns, err := netns.GetFromPath(filepath.Join("/run/netns", vpcID))
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	addr := netip.AddrPortFrom(dataplane.ResolverAddr(), 53).String()
	var pc net.PacketConn
	var ln net.Listener
	if err := netnsrun.In(ns, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", addr); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp4", addr); err != nil {
			pc.Close()
			return err
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return &vpcResolver{Server: resolver.Serve(resolver.Config{
		Zones:    []string{model.PrivateLinkDomain},
		Upstream: resolver.HostUpstream(resolvConfPath),
		Logger:   a.log.With("vpc", vpcID, "part", "dns"),
	}, pc, ln), ns: ino}, nil
}

// stopResolvers stops every VPC's DNS server.
func (a *Agent) stopResolvers() {
	for id, s := range a.resolvers {
		s.Close()
		delete(a.resolvers, id)
	}
}

package service

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// allocVNI returns a VXLAN network identifier that no VPC of the store
// has. It is random rather than counted so that two stores (a test's and
// a host's, say) rarely hand out the same one; within one store it is
// unique, which is what keeps two VPCs apart on the underlay.
func allocVNI(tx store.ReadTxn) (uint32, error) {
	used := map[uint32]bool{}
	if err := listJSON(tx, model.PrefixVPC, func(v *model.VPC) error {
		used[v.VNI] = true
		return nil
	}); err != nil {
		return 0, err
	}
	var b [4]byte
	for range 1000 {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("crypto/rand: %w", err)
		}
		if vni := binary.BigEndian.Uint32(b[:]) & model.MaxVNI; vni != 0 && !used[vni] {
			return vni, nil
		}
	}
	return 0, fmt.Errorf("no free VXLAN network identifier among %d in use", len(used))
}

// AssignMissingVNIs gives every VPC without a VNI one (VPCs stored before
// VNIs existed). The server calls it at start; it writes nothing when
// every VPC has one.
func (s *Service) AssignMissingVNIs(ctx context.Context) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		var missing []model.VPC
		if err := listJSON(tx, model.PrefixVPC, func(v *model.VPC) error {
			if v.VNI == 0 {
				missing = append(missing, *v)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, v := range missing {
			vni, err := allocVNI(tx)
			if err != nil {
				return err
			}
			v.VNI = vni
			if err := putJSON(tx, model.PrefixVPC+v.ID, &v); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// UnderlayRequest is what an agent says of its underlay in its heartbeat:
// an empty Addr means it joins no other host (its zone's record is
// removed).
type UnderlayRequest struct {
	Addr string
	Port string
}

// maxUnderlayPort is the highest underlay port: the relay of mirrored
// copies between hosts takes the one after it.
const maxUnderlayPort = 65534

// parseUnderlay validates an agent's underlay address and port.
func parseUnderlay(in UnderlayRequest) (netip.Addr, uint16, error) {
	addr, err := netip.ParseAddr(in.Addr)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, 0, errs.InvalidParam("InvalidParameter.UnderlayAddress",
			"The specified UnderlayAddress %q is not an IP address: give the address other hosts reach this agent's host by.", in.Addr)
	}
	addr = addr.Unmap()
	if !addr.IsGlobalUnicast() && !addr.IsPrivate() {
		return netip.Addr{}, 0, errs.InvalidParam("InvalidParameter.UnderlayAddress",
			"The specified UnderlayAddress %s is not a unicast address other hosts can reach (loopback, link-local, multicast and unspecified addresses are not).", addr)
	}
	port := uint16(model.DefaultUnderlayPort)
	if in.Port != "" {
		// The next port carries the traffic-mirror relay between hosts
		// (mirror.RelayPort), so 65535 is not one.
		n, err := strconv.ParseUint(in.Port, 10, 16)
		if err != nil || n == 0 || n > maxUnderlayPort {
			return netip.Addr{}, 0, errs.InvalidParam("InvalidParameter.UnderlayPort",
				"The specified UnderlayPort %q is not a usable port: give a number from 1 to %d (the next port carries mirrored traffic between hosts).", in.Port, maxUnderlayPort)
		}
		port = uint16(n)
	}
	return addr, port, nil
}

// setUnderlay records zone's underlay (or removes it for an empty
// address) when it changed: heartbeats repeat it, and an unchanged record
// must not wake every agent.
func setUnderlay(tx store.Txn, zone string, in UnderlayRequest) error {
	key := model.PrefixUnderlay + zone
	var have model.Underlay
	ok, err := getJSON(tx, key, &have)
	if err != nil {
		return err
	}
	if in.Addr == "" {
		if ok {
			return tx.Delete(key)
		}
		return nil
	}
	addr, port, err := parseUnderlay(in)
	if err != nil {
		return err
	}
	want := model.Underlay{ZoneID: zone, Addr: addr, Port: port}
	if ok && have == want {
		return nil
	}
	var clash string
	if err := listJSON(tx, model.PrefixUnderlay, func(u *model.Underlay) error {
		if u.ZoneID != zone && u.Addr == addr && u.Port == port {
			clash = u.ZoneID
		}
		return nil
	}); err != nil {
		return err
	}
	if clash != "" {
		return errs.InvalidParam("InvalidParameter.UnderlayAddress",
			"The underlay %s port %d is already zone %s's: each host serves one zone, reached by an address (or port) of its own.", addr, port, clash)
	}
	return putJSON(tx, key, want)
}

// SetZoneUnderlay records the underlay of the zone served in-process
// (palisade up), as an agent's heartbeat does for its own.
func (s *Service) SetZoneUnderlay(ctx context.Context, zone string, in UnderlayRequest) error {
	_, err := s.update(ctx, func(tx store.Txn) error { return setUnderlay(tx, zone, in) })
	return err
}

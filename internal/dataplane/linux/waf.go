package linux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/netnsrun"
)

// WAF steering, the socket side (nat.go has the nftables side).
//
// In a VPC namespace with protected ports:
//
//	ip rule  pref 90: fwmark 0x400000/0x400000 lookup 154 proto 0x9a
//	table 154: local 0.0.0.0/0 dev lo proto 0x9a
//
// so packets carrying SteerMark (new connections handed to the WAF by
// tproxy, packets of established transparent sockets) are delivered
// locally. The WAF's listener is bound to EIP:port with IP_TRANSPARENT
// (ListenTransparent); it connects on to the instance from the client's
// address with IP_TRANSPARENT and SO_MARK UpstreamMark (DialTransparent),
// so the instance and its security groups see the client, as on the direct
// path. The rule and the table vanish with the namespace.
const (
	steerRulePref = 90
	steerTable    = 154
	// UpstreamMark is the SO_MARK of the WAF's connections to instances:
	// the security-group program's output chain (policy.TransparentMark)
	// filters exactly those packets with the receiver's ingress rules.
	UpstreamMark = 0x00200000
)

// syncSteerRouting installs (on) or removes (off) the policy routing of
// WAF steering in the VPC namespace.
func syncSteerRouting(vref *nsRef, on bool) error {
	mask := uint32(SteerMark)
	rules, err := vref.nl.RuleListFiltered(netlink.FAMILY_V4, &netlink.Rule{Table: steerTable}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list ip rules: %w", err)
	}
	have := false
	for _, r := range rules {
		if on && !have && r.Mark == SteerMark && r.Mask != nil && *r.Mask == mask && r.Priority == steerRulePref {
			have = true
			continue
		}
		if err := vref.nl.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete ip rule %v: %w", r, err)
		}
	}
	if on && !have {
		r := netlink.NewRule()
		r.Family, r.Priority, r.Table, r.Mark, r.Mask, r.Protocol = netlink.FAMILY_V4, steerRulePref, steerTable, SteerMark, &mask, routeProto
		if err := vref.nl.RuleAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add ip rule fwmark 0x%x lookup %d: %w", SteerMark, steerTable, err)
		}
	}
	lo, err := vref.nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	route := &netlink.Route{
		Dst: prefixIPNet(netip.PrefixFrom(netip.IPv4Unspecified(), 0)), LinkIndex: lo.Attrs().Index,
		Table: steerTable, Type: unix.RTN_LOCAL, Scope: netlink.SCOPE_HOST, Protocol: routeProto,
	}
	if on {
		if err := vref.nl.RouteReplace(route); err != nil {
			return fmt.Errorf("local route in table %d: %w", steerTable, err)
		}
		return nil
	}
	if err := vref.nl.RouteDel(route); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete local route in table %d: %w", steerTable, err)
	}
	return nil
}

// openVPCNS opens the named VPC namespace.
func openVPCNS(vpcID string) (netns.NsHandle, error) {
	if err := validNSName(vpcID, vpcNSPrefix); err != nil {
		return 0, err
	}
	ns, err := netns.GetFromPath(filepath.Join(netnsDir, vpcID))
	if err != nil {
		return 0, fmt.Errorf("open netns %s: %w", vpcID, err)
	}
	return ns, nil
}

func transparent(mark int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1); serr != nil {
				serr = fmt.Errorf("IP_TRANSPARENT: %w", serr)
				return
			}
			if mark != 0 {
				if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, mark); serr != nil {
					serr = fmt.Errorf("SO_MARK: %w", serr)
				}
			}
		})
		return errors.Join(err, serr)
	}
}

// ListenTransparent listens on addr (an EIP and a protected port) inside
// the VPC's namespace with IP_TRANSPARENT: the socket that WAF steering
// hands the port's new connections to. The listener keeps working from any
// goroutine (a socket stays in the namespace it was made in).
func ListenTransparent(vpcID string, addr netip.AddrPort) (net.Listener, error) {
	ns, err := openVPCNS(vpcID)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	var ln net.Listener
	err = netnsrun.In(ns, func() error {
		var err error
		lc := net.ListenConfig{Control: transparent(0)}
		ln, err = lc.Listen(context.Background(), "tcp4", addr.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("transparent listener %s in %s: %w", addr, vpcID, err)
	}
	return ln, nil
}

// DialTransparent connects, from inside the VPC's namespace, to address
// (host:port) with from as source, marked UpstreamMark: the WAF's
// connection to the instance on behalf of client from. It binds the
// client's own port, so that the instance and security-group rules on
// source ports see what they see on the direct path; when that port is
// taken (a second concurrent upstream connection of one client
// connection, or the same pair of ends still in TIME_WAIT) it takes any
// port. A from without port takes any port.
func DialTransparent(ctx context.Context, vpcID string, from netip.AddrPort, address string) (net.Conn, error) {
	ns, err := openVPCNS(vpcID)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	dial := func(port uint16) (c net.Conn, err error) {
		d := net.Dialer{Control: transparent(UpstreamMark)}
		if from.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: from.Addr().Unmap().AsSlice(), Port: int(port)}
		}
		err = netnsrun.In(ns, func() error {
			var err error
			c, err = d.DialContext(ctx, "tcp4", address)
			return err
		})
		return c, err
	}
	c, err := dial(from.Port())
	if err != nil && from.Port() != 0 && (errors.Is(err, unix.EADDRINUSE) || errors.Is(err, unix.EADDRNOTAVAIL)) {
		c, err = dial(0)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s from %s in %s: %w", address, from, vpcID, err)
	}
	return c, nil
}

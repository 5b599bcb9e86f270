package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/netnsrun"
)

// The conntrack event socket (DESTROY events only: new flows are counted
// by the table, see policy.FlowLogNewCounter, which costs no message) is
// read on a timer, not through Go's network poller: a socket in the
// poller's epoll set wakes the poller's thread for every event the kernel
// queues, and at 15,000 connections a second those wake-ups cost more
// than the events. A
// socket nobody waits on only queues; the reader drains it every
// EventBatchDelay while events come, backing off to EventIdleDelay when
// none do. The 8 MiB buffer holds far more than a delay's worth of
// events; an overflow is reported by the kernel (ENOBUFS) and counted.
const (
	EventBatchDelay = 10 * time.Millisecond
	EventIdleDelay  = 200 * time.Millisecond
)

// openEvents opens a non-blocking netlink socket in the namespace nsFd,
// subscribed to the conntrack event groups (a bit mask: NEW is 1,
// DESTROY 4), outside Go's network poller.
func openEvents(nsFd int, groups uint32) (int, error) {
	fd := -1
	err := netnsrun.In(netns.NsHandle(nsFd), func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_NETFILTER)
		return err
	})
	if err != nil {
		return -1, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind conntrack event groups: %w", err)
	}
	return fd, nil
}

// watchEvents reads conntrack's DESTROY events from fd until ctx ends,
// then closes fd. It decodes straight from the socket's buffer without
// allocating per event: the events carry the flow's final counters and
// are decoded like dump entries and handed to the run loop in batches, so that a flow that
// came and went between two dumps (a short connection whose port is
// reused at once, a flush) is still reported exactly. A window boundary
// asks for what is queued at once (flushEvents). An overflow of the
// socket or of the hand-over is counted in newLost.
func (c *Capture) watchEvents(ctx context.Context, fd int) {
	defer unix.Close(fd)
	buf := make([]byte, 1<<20)
	var batch []Flow
	var f Flow
	// readAll reads until the socket is empty; it reports whether it read
	// anything, and an error other than "empty" or "overflowed".
	readAll := func() (bool, error) {
		read := false
		for {
			n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			switch {
			case errors.Is(err, unix.EAGAIN):
				return read, nil
			case errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.ENOBUFS):
				c.newLost.Add(1) // the kernel dropped events
				read = true
				continue
			case err != nil:
				return read, err
			}
			read = true
			b := buf[:n]
			for len(b) >= unix.NLMSG_HDRLEN {
				l := int(binary.NativeEndian.Uint32(b[0:4]))
				if l < unix.NLMSG_HDRLEN || l > len(b) {
					break
				}
				if binary.NativeEndian.Uint16(b[4:6]) == ctDeleteMsg {
					if data := b[unix.NLMSG_HDRLEN:l]; len(data) > 4 && parseFlow(data[4:], &f) {
						batch = append(batch, f)
					}
				}
				b = b[min(align4(l), len(b)):]
			}
		}
	}
	hand := func() {
		if len(batch) == 0 {
			return
		}
		select {
		case c.destroyed <- batch:
		default:
			c.newLost.Add(uint64(len(batch)))
		}
		batch = nil
	}
	delay := EventBatchDelay
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		var ack chan struct{}
		select {
		case <-ctx.Done():
			return
		case ack = <-c.flushEvents:
		case <-timer.C:
		}
		read, err := readAll()
		hand()
		if ack != nil {
			close(ack)
		}
		if err != nil {
			c.log.Warn("conntrack events; flows may go unseen (SKIPDATA)", "err", err)
			c.newLost.Add(1)
			return
		}
		if ack == nil {
			if read {
				delay = EventBatchDelay
			} else {
				delay = min(2*delay, EventIdleDelay)
			}
			timer.Reset(delay)
		}
	}
}

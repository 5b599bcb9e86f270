package nftprog

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Digest reads the tables of s back from the kernel (chains, rules, sets
// and their elements; not the values of counters, which are traffic) and
// returns a hash of what it read. Two digests of an unchanged kernel state
// are equal; a table, chain, rule, set or element changed by hand changes
// it (drift).
func Digest(c *Conn, s *Spec) (string, error) {
	if err := c.real.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return "", fmt.Errorf("netlink deadline: %w", err)
	}
	conn := c.nft
	h := sha256.New()
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return "", fmt.Errorf("list chains: %w", err)
	}
	for _, t := range s.Tables {
		name := t.Table.Name
		if _, err := conn.ListTableOfFamily(name, nftables.TableFamilyINet); err != nil {
			fmt.Fprintf(h, "no table %s\n", name)
			continue
		}
		fmt.Fprintf(h, "table %s\n", name)
		sets, err := conn.GetSets(t.Table)
		if err != nil {
			return "", fmt.Errorf("list sets of %s: %w", name, err)
		}
		for _, set := range sets {
			fmt.Fprintf(h, "set %s anon=%t const=%t int=%t map=%t concat=%t key=%d/%d data=%d/%d\n",
				set.Name, set.Anonymous, set.Constant, set.Interval, set.IsMap, set.Concatenation,
				set.KeyType.GetNFTMagic(), set.KeyType.Bytes, set.DataType.GetNFTMagic(), set.DataType.Bytes)
			elems, err := conn.GetSetElements(set)
			if err != nil {
				return "", fmt.Errorf("list elements of %s: %w", set.Name, err)
			}
			keys := make([]string, len(elems))
			for i, e := range elems {
				keys[i] = elemKey(e)
			}
			slices.Sort(keys)
			fmt.Fprintf(h, "%s\n", strings.Join(keys, " "))
		}
		for _, ch := range chains {
			if ch.Table.Name != name {
				continue
			}
			fmt.Fprintf(h, "chain %s type=%s", ch.Name, ch.Type)
			if ch.Hooknum != nil && ch.Priority != nil {
				fmt.Fprintf(h, " hook=%d prio=%d", *ch.Hooknum, *ch.Priority)
			}
			if ch.Policy != nil {
				fmt.Fprintf(h, " policy=%d", *ch.Policy)
			}
			fmt.Fprintln(h)
			rules, err := conn.GetRules(t.Table, ch)
			if err != nil {
				return "", fmt.Errorf("list rules of %s: %w", ch.Name, err)
			}
			for _, r := range rules {
				fmt.Fprintf(h, "rule ud=%x", r.UserData)
				for _, e := range r.Exprs {
					if _, ok := e.(*expr.Counter); ok {
						continue // traffic
					}
					data, err := expr.Marshal(byte(nftables.TableFamilyINet), e)
					if err != nil {
						fmt.Fprintf(h, " %T", e)
						continue
					}
					fmt.Fprintf(h, " %x", data)
				}
				fmt.Fprintln(h)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Generation returns the nftables generation of the namespace: the kernel
// bumps it with every committed transaction (of any table), so an
// unchanged generation means nothing was changed since it was read.
func Generation(c *Conn) (uint32, error) {
	if err := c.real.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return 0, fmt.Errorf("netlink deadline: %w", err)
	}
	msgs, err := c.real.Execute(mnl.Message{
		Header: mnl.Header{
			Type:  mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: mnl.Request,
		},
		Data: make([]byte, 4), // nfgenmsg: AF_UNSPEC, version 0, resource 0
	})
	if err != nil {
		return 0, fmt.Errorf("get nftables generation: %w", err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := mnl.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, fmt.Errorf("decode nftables generation: %w", err)
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
		if err := ad.Err(); err != nil {
			return 0, fmt.Errorf("decode nftables generation: %w", err)
		}
	}
	return 0, fmt.Errorf("get nftables generation: no generation in reply")
}

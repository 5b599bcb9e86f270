package service

import (
	"context"
	"encoding/json"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// The domains of Cloud Firewall policies (DestinationType domain: the
// Internet firewall's Direction out, the NAT firewall) are resolved by the
// server, not by the agents: every host then matches the same addresses,
// and the analyzer reads them too. The server's loop (package app) calls
// ResolveFirewallDomains every 30 s and ResolveNewFirewallDomains soon
// after a policy changes; each writes, under PrefixDomainResolution, a
// DomainResolution per domain that an enabled policy of any account names
// (public DNS is no account's data: one record serves every account
// naming the domain), and deletes those of domains no longer named.
//
// Decisions:
//   - Lookups run outside any store transaction (they wait on the
//     network), at most domainLookups at once; the records are written
//     in one transaction after, for the domains still named then.
//   - A record holds the IPv4 addresses of the answer, sorted, each once.
//     A failed lookup (timeout, SERVFAIL: the lookup's error) keeps the
//     addresses of the last that succeeded and records the error; a
//     successful one clears it. A name that does not exist (NXDOMAIN) or
//     has no A record is an answer: no addresses, no error.
//   - A record is written only when its addresses or its error change:
//     agents reconcile on every change of the store. ResolvedAt is
//     therefore when the record last changed by a successful lookup
//     (when the addresses shown were found).

// DomainLookup resolves a name to its addresses. An error means no
// answer (a name that does not exist has no addresses and no error).
type DomainLookup func(ctx context.Context, name string) ([]netip.Addr, error)

// domainLookups bounds the lookups of one pass that run at once.
const domainLookups = 8

// ResolveFirewallDomains looks up every domain that an enabled policy
// names and records what changed (see above).
func (s *Service) ResolveFirewallDomains(ctx context.Context, lookup DomainLookup) error {
	return s.resolveFirewallDomains(ctx, lookup, true)
}

// ResolveNewFirewallDomains looks up only the named domains without a
// record yet, and deletes the records of domains no longer named: what a
// policy change needs at once, without asking DNS again for every domain.
func (s *Service) ResolveNewFirewallDomains(ctx context.Context, lookup DomainLookup) error {
	return s.resolveFirewallDomains(ctx, lookup, false)
}

func (s *Service) resolveFirewallDomains(ctx context.Context, lookup DomainLookup, all bool) error {
	var ask []string
	if err := s.view(ctx, func(tx store.ReadTxn) error {
		ask = nil
		named, err := namedDomains(tx)
		if err != nil {
			return err
		}
		have, err := domainResolutions(tx)
		if err != nil {
			return err
		}
		for _, d := range slices.Sorted(maps.Keys(named)) {
			if _, ok := have[d]; all || !ok {
				ask = append(ask, d)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	type answer struct {
		addrs []netip.Addr
		err   error
	}
	answers := make([]answer, len(ask))
	sem := make(chan struct{}, domainLookups)
	var wg sync.WaitGroup
	for i, d := range ask {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			addrs, err := lookup(ctx, d)
			answers[i] = answer{addrs, err}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err // the lookups were cut short: their errors say nothing of DNS
	}

	type change struct {
		domain      string
		before, now string // errors, for the log
	}
	var changes []change
	_, err := s.update(ctx, func(tx store.Txn) error {
		changes = nil
		named, err := namedDomains(tx)
		if err != nil {
			return err
		}
		have, err := domainResolutions(tx)
		if err != nil {
			return err
		}
		for d := range have {
			if !named[d] {
				if err := tx.Delete(model.PrefixDomainResolution + d); err != nil {
					return err
				}
			}
		}
		for i, d := range ask {
			if !named[d] {
				continue // its policies went while it was looked up
			}
			old, had := have[d]
			r := model.DomainResolution{Domain: d}
			if had {
				r = *old
			}
			if e := answers[i].err; e != nil {
				r.Error = e.Error()
			} else {
				r.Addrs, r.Error, r.ResolvedAt = ipv4Set(answers[i].addrs), "", s.stamp()
			}
			if had && slices.Equal(r.Addrs, old.Addrs) && r.Error == old.Error {
				continue
			}
			before := ""
			if had {
				before = old.Error
			}
			changes = append(changes, change{d, before, r.Error})
			if err := putJSON(tx, model.PrefixDomainResolution+d, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range changes {
		switch {
		case c.now != "" && c.now != c.before:
			s.log.Warn("firewall domain: lookup failed; its policies keep the addresses last found", "domain", c.domain, "err", c.now)
		case c.now == "" && c.before != "":
			s.log.Info("firewall domain: lookup succeeds again", "domain", c.domain)
		}
	}
	return nil
}

// namedDomains returns the domains that enabled policies name as their
// destination (Internet and NAT firewalls, every account).
func namedDomains(tx store.ReadTxn) (map[string]bool, error) {
	out := map[string]bool{}
	for _, prefix := range []string{model.PrefixFirewallPolicy, model.PrefixNatFirewallPolicy} {
		if err := listJSON(tx, prefix, func(p *model.FirewallPolicy) error {
			if p.Enabled && p.DestinationType == model.FirewallDomain && p.Destination != "" {
				out[p.Destination] = true
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// domainResolutions returns the stored resolutions by domain, the key's
// (a record that does not decode is rewritten or deleted like any other).
func domainResolutions(tx store.ReadTxn) (map[string]*model.DomainResolution, error) {
	out := map[string]*model.DomainResolution{}
	err := tx.List(model.PrefixDomainResolution, func(k string, v []byte) error {
		d := strings.TrimPrefix(k, model.PrefixDomainResolution)
		r := &model.DomainResolution{}
		if json.Unmarshal(v, r) != nil {
			// Unlike any answer, so that the next lookup rewrites it.
			r = &model.DomainResolution{Error: "undecodable record"}
		}
		r.Domain = d
		out[d] = r
		return nil
	})
	return out, err
}

// ipv4Set is the IPv4 addresses of addrs (IPv4-mapped IPv6 as IPv4),
// sorted, each once; nil when there are none.
func ipv4Set(addrs []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

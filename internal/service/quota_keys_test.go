package service

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// wantCode checks err against a coded error ("" = success).
func wantCode(t *testing.T, what string, err error, code string, status int) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("%s: %v, want success", what, err)
		}
		return
	}
	e, ok := errs.As(err)
	if !ok || e.Code != code || (status != 0 && e.Status != status) {
		t.Fatalf("%s: %v, want %s (%d)", what, err, code, status)
	}
}

// One account cannot take the whole public pool: past its quota it gets
// QuotaExceeded.Eip (400) while other accounts still allocate; an empty
// pool is ResourceNotEnough.Eip for everyone, a different code.
func TestEIPQuotaPerAccount(t *testing.T) {
	q := DefaultQuotas()
	q.EipsPerAccount = 2
	// A /29: 8 addresses, 5 usable (network, gateway, broadcast kept).
	s := New(memory.New(), Config{Quotas: q, PublicCIDR: netip.MustParsePrefix("203.0.113.0/29")})
	ctx := context.Background()
	steps := []struct {
		account string
		code    string
		status  int
	}{
		{"alice", "", 0},
		{"alice", "", 0},
		{"alice", "QuotaExceeded.Eip", 400}, // alice's quota, not the pool
		{"alice", "QuotaExceeded.Eip", 400},
		{"bob", "", 0},
		{"bob", "", 0},
		{"carol", "", 0},                        // the fifth and last usable address
		{"carol", "ResourceNotEnough.Eip", 403}, // the pool, not carol's quota
	}
	for i, st := range steps {
		_, err := s.AllocateEipAddress(ctx, st.account, AllocateEipInput{})
		wantCode(t, st.account+" allocation "+string(rune('1'+i)), err, st.code, st.status)
	}
	// Releasing one frees a slot of the quota.
	list, err := s.DescribeEipAddresses(ctx, "alice", EIPFilter{})
	if err != nil || len(list) != 2 {
		t.Fatalf("alice's EIPs: %v %v", list, err)
	}
	if err := s.ReleaseEipAddress(ctx, "alice", list[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AllocateEipAddress(ctx, "alice", AllocateEipInput{}); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

// The EIP and instance quotas default to 20 and DefaultInstancesPerAccount,
// also when a deployment's Quotas predate them (zero fields).
func TestNewQuotaDefaults(t *testing.T) {
	for name, q := range map[string]Quotas{
		"zero":     {},
		"defaults": DefaultQuotas(),
		"partial":  {VpcsPerAccount: 3, InstancesPerRunCall: 100},
	} {
		got := New(memory.New(), Config{Quotas: q}).Quotas()
		if got.EipsPerAccount != 20 || got.InstancesPerAccount != DefaultInstancesPerAccount {
			t.Errorf("%s: EipsPerAccount %d, InstancesPerAccount %d", name, got.EipsPerAccount, got.InstancesPerAccount)
		}
	}
}

// checkInstanceQuota counts the account's instances only.
func TestInstanceQuota(t *testing.T) {
	q := DefaultQuotas()
	q.InstancesPerAccount = 3
	st := memory.New()
	s := New(st, Config{Quotas: q})
	ctx := context.Background()
	if _, err := st.Update(ctx, func(tx store.Txn) error {
		for i, acct := range []string{"alice", "alice", "bob"} {
			inst := model.Instance{ID: "i-" + string(rune('a'+i)), AccountID: acct}
			if err := putJSON(tx, model.PrefixInstance+inst.ID, inst); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		account string
		n       int
		code    string
	}{
		{"alice", 1, ""},
		{"alice", 2, "QuotaExceed.Instance"},
		{"bob", 2, ""},
		{"bob", 3, "QuotaExceed.Instance"},
		{"carol", 3, ""},
		{"carol", 4, "QuotaExceed.Instance"},
	} {
		err := s.view(ctx, func(tx store.ReadTxn) error { return s.checkInstanceQuota(tx, tc.account, tc.n) })
		wantCode(t, tc.account, err, tc.code, 400)
	}
}

// A VPC or vSwitch CIDR may not overlap the public pool (the EIPs of every
// account): InvalidCidrBlock.Malformed, like the other reserved ranges,
// with a message naming the pool.
func TestCidrOverlapsPublicPool(t *testing.T) {
	pool := netip.MustParsePrefix("203.0.113.0/24")
	st := memory.New()
	s := New(st, Config{PublicCIDR: pool})
	ctx := context.Background()
	// A VPC made before the check (or before the pool moved) over the pool.
	old := model.VPC{ID: "vpc-old", AccountID: "alice", CidrBlock: netip.MustParsePrefix("203.0.112.0/23"), Status: "Available"}
	if _, err := st.Update(ctx, func(tx store.Txn) error { return putJSON(tx, model.PrefixVPC+old.ID, old) }); err != nil {
		t.Fatal(err)
	}
	ok, err := s.CreateVpc(ctx, "alice", CreateVpcInput{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"vpc equal to the pool", func() error {
			_, err := s.CreateVpc(ctx, "alice", CreateVpcInput{CidrBlock: "203.0.113.0/24"})
			return err
		}, "InvalidCidrBlock.Malformed"},
		{"vpc around the pool", func() error {
			_, err := s.CreateVpc(ctx, "alice", CreateVpcInput{CidrBlock: "203.0.0.0/16"})
			return err
		}, "InvalidCidrBlock.Malformed"},
		{"vpc inside the pool", func() error {
			_, err := s.CreateVpc(ctx, "alice", CreateVpcInput{CidrBlock: "203.0.113.128/25"})
			return err
		}, "InvalidCidrBlock.Malformed"},
		{"vpc next to the pool", func() error {
			_, err := s.CreateVpc(ctx, "alice", CreateVpcInput{CidrBlock: "203.0.114.0/24"})
			return err
		}, ""},
		{"secondary cidr over the pool", func() error {
			return s.AssociateVpcCidrBlock(ctx, "alice", ok.VpcID, "203.0.113.0/25", false)
		}, "InvalidCidrBlock.Malformed"},
		{"vswitch over the pool in an old vpc", func() error {
			_, err := s.CreateVSwitch(ctx, "alice", CreateVSwitchInput{VpcID: old.ID, ZoneID: s.DefaultZone(), CidrBlock: "203.0.113.0/24"})
			return err
		}, "InvalidCidrBlock.Malformed"},
		{"vswitch beside the pool in an old vpc", func() error {
			_, err := s.CreateVSwitch(ctx, "alice", CreateVSwitchInput{VpcID: old.ID, ZoneID: s.DefaultZone(), CidrBlock: "203.0.112.0/24"})
			return err
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantCode(t, tc.name, err, tc.code, 400)
			if e, ok := errs.As(err); ok && !strings.Contains(e.Message, pool.String()) {
				t.Errorf("message does not name the pool %s: %s", pool, e.Message)
			}
		})
	}
	// The default VPC CIDR (172.16.0.0/12) is refused too when the pool
	// sits in it.
	s2 := New(memory.New(), Config{PublicCIDR: netip.MustParsePrefix("172.20.0.0/24")})
	_, err = s2.CreateVpc(ctx, "alice", CreateVpcInput{})
	wantCode(t, "default cidr over the pool", err, "InvalidCidrBlock.Malformed", 400)
}

// keyFixture is an admin (with its root key) and two accounts.
type keyFixture struct {
	s                  *Service
	admin, alice, bob  string
	root, aliceK, bobK string
}

func newKeyFixture(t *testing.T) keyFixture {
	t.Helper()
	s := New(memory.New(), Config{})
	ctx := context.Background()
	admin, root, _, err := s.EnsureAdmin(ctx, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	alice, ak, err := s.CreateAccount(ctx, admin.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, bk, err := s.CreateAccount(ctx, admin.ID, "bob")
	if err != nil {
		t.Fatal(err)
	}
	return keyFixture{s: s, admin: admin.ID, alice: alice.ID, bob: bob.ID, root: root.ID, aliceK: ak.ID, bobK: bk.ID}
}

func TestDeleteAccessKey(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		caller func(f keyFixture) string
		key    func(f keyFixture) string
		extra  bool // give the admin a second key first
		code   string
		status int
	}{
		{"own key", func(f keyFixture) string { return f.alice }, func(f keyFixture) string { return f.aliceK }, false, "", 0},
		{"admin deletes another's key", func(f keyFixture) string { return f.admin }, func(f keyFixture) string { return f.bobK }, false, "", 0},
		{"another account's key is not found", func(f keyFixture) string { return f.alice }, func(f keyFixture) string { return f.bobK }, false, "InvalidUserAccessKeyId.NotFound", 404},
		{"a non-admin cannot delete the admin's key", func(f keyFixture) string { return f.alice }, func(f keyFixture) string { return f.root }, true, "InvalidUserAccessKeyId.NotFound", 404},
		{"unknown key", func(f keyFixture) string { return f.admin }, func(f keyFixture) string { return "LTAInosuchkey" }, false, "InvalidUserAccessKeyId.NotFound", 404},
		{"missing id", func(f keyFixture) string { return f.admin }, func(f keyFixture) string { return "" }, false, "MissingParameter", 400},
		{"the admin's last key", func(f keyFixture) string { return f.admin }, func(f keyFixture) string { return f.root }, false, "OperationDenied.LastAdminAccessKey", 403},
		{"the admin's root key with another left", func(f keyFixture) string { return f.admin }, func(f keyFixture) string { return f.root }, true, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newKeyFixture(t)
			if tc.extra {
				if _, err := f.s.CreateAccessKey(ctx, f.admin, "", ""); err != nil {
					t.Fatal(err)
				}
			}
			id := tc.key(f)
			_, err := f.s.DeleteAccessKey(ctx, tc.caller(f), id)
			wantCode(t, "DeleteAccessKey", err, tc.code, tc.status)
			_, _, lookErr := f.s.LookupAccessKey(ctx, id)
			if deleted := lookErr != nil; deleted != (tc.code == "") && id != "" && id != "LTAInosuchkey" {
				t.Errorf("key %s deleted = %v after %v", id, deleted, err)
			}
		})
	}
}

// Deleting keys frees the 20-key quota; the last admin key stays.
func TestDeleteAccessKeyFreesQuota(t *testing.T) {
	ctx := context.Background()
	f := newKeyFixture(t)
	var last model.AccessKey
	for range maxKeysPerAccount - 1 {
		k, err := f.s.CreateAccessKey(ctx, f.alice, "", "")
		if err != nil {
			t.Fatal(err)
		}
		last = k
	}
	_, err := f.s.CreateAccessKey(ctx, f.alice, "", "")
	wantCode(t, "21st key", err, "QuotaExceeded.AccessKey", 0)
	if _, err := f.s.DeleteAccessKey(ctx, f.alice, last.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CreateAccessKey(ctx, f.alice, "", ""); err != nil {
		t.Fatalf("after a deletion: %v", err)
	}
}

// DescribeAccessKeys lists keys without secrets; only the admin sees
// another account's keys.
func TestDescribeAccessKeys(t *testing.T) {
	ctx := context.Background()
	f := newKeyFixture(t)
	for _, tc := range []struct {
		name, caller, target string
		want                 []string
		code                 string
	}{
		{"own", f.alice, "", []string{f.aliceK}, ""},
		{"admin's own, root marked", f.admin, "", []string{f.root}, ""},
		{"admin lists bob", f.admin, f.bob, []string{f.bobK}, ""},
		{"alice lists bob", f.alice, f.bob, nil, "Forbidden.NotAdmin"},
		{"unknown account", f.admin, "999", nil, "InvalidAccountId.NotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := f.s.DescribeAccessKeys(ctx, tc.caller, tc.target)
			wantCode(t, tc.name, err, tc.code, 0)
			if len(keys) != len(tc.want) {
				t.Fatalf("keys %+v, want %v", keys, tc.want)
			}
			for i, k := range keys {
				if k.ID != tc.want[i] || k.Root != (k.ID == f.root) {
					t.Errorf("key %d: %+v, want %s", i, k, tc.want[i])
				}
			}
		})
	}
}

// The root key from the environment replaces the previous root key, which
// is revoked; without the environment the recorded root key is kept; a
// deleted root key is replaced by a new one; a revoked ID never comes back.
func TestEnsureAdminRootRotation(t *testing.T) {
	ctx := context.Background()
	type start struct {
		id, secret, published string
		wantID                string // "" = a new random key
		revoked               []string
		err                   bool
	}
	for _, tc := range []struct {
		name   string
		starts []start
	}{
		{"env key rotated", []start{
			{id: "LTAIenvkeyone", secret: "s1", wantID: "LTAIenvkeyone"},
			{id: "LTAIenvkeytwo", secret: "s2", wantID: "LTAIenvkeytwo", revoked: []string{"LTAIenvkeyone"}},
			// Without the environment: the env key stays the root (not the old one).
			{wantID: "LTAIenvkeytwo", revoked: []string{"LTAIenvkeyone"}},
			// The revoked key cannot come back.
			{id: "LTAIenvkeyone", secret: "s1", err: true},
		}},
		{"generated key replaced by env key", []start{
			{wantID: ""},
			{id: "LTAIenvkeyone", secret: "s1", wantID: "LTAIenvkeyone"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(memory.New(), Config{})
			var prev string
			for i, st := range tc.starts {
				_, key, _, err := s.EnsureAdmin(ctx, st.id, st.secret, st.published)
				if st.err {
					if err == nil {
						t.Fatalf("start %d: accepted %s", i, st.id)
					}
					continue
				}
				if err != nil {
					t.Fatalf("start %d: %v", i, err)
				}
				if st.wantID != "" && key.ID != st.wantID {
					t.Fatalf("start %d: root %s, want %s", i, key.ID, st.wantID)
				}
				if prev != "" && prev != key.ID {
					if _, _, err := s.LookupAccessKey(ctx, prev); err == nil {
						t.Errorf("start %d: previous root %s still valid", i, prev)
					}
				}
				for _, r := range st.revoked {
					if _, _, err := s.LookupAccessKey(ctx, r); err == nil {
						t.Errorf("start %d: %s still valid", i, r)
					}
				}
				if _, _, err := s.LookupAccessKey(ctx, key.ID); err != nil {
					t.Errorf("start %d: root %s: %v", i, key.ID, err)
				}
				prev = key.ID
			}
		})
	}
}

// Data directories from before the root key was recorded: the key of
// credentials.json is the previous root key and is revoked by an env key;
// other admin keys (made with CreateAccessKey) stay.
func TestEnsureAdminLegacyPublished(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	s := New(st, Config{})
	admin, first, _, err := s.EnsureAdmin(ctx, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateAccessKey(ctx, admin.ID, "", "")
	if err != nil {
		t.Fatal(err)
	}
	// Forget the record, as in an old data directory.
	if _, err := st.Update(ctx, func(tx store.Txn) error { return tx.Delete(keyRootKey) }); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.EnsureAdmin(ctx, "LTAIenvkeyone", "s1", first.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LookupAccessKey(ctx, first.ID); err == nil {
		t.Errorf("published key %s still valid after the env key", first.ID)
	}
	if _, _, err := s.LookupAccessKey(ctx, other.ID); err != nil {
		t.Errorf("an admin key made with CreateAccessKey was revoked: %v", err)
	}
}

// A deleted root key is replaced by a new one at the next EnsureAdmin
// without a preset (not by another admin key).
func TestEnsureAdminAfterRootDeleted(t *testing.T) {
	ctx := context.Background()
	f := newKeyFixture(t)
	other, err := f.s.CreateAccessKey(ctx, f.admin, "", "")
	if err != nil {
		t.Fatal(err)
	}
	root, err := f.s.DeleteAccessKey(ctx, f.admin, f.root)
	if err != nil || !root {
		t.Fatalf("DeleteAccessKey(root) = %v, %v", root, err)
	}
	_, key, _, err := f.s.EnsureAdmin(ctx, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if key.ID == f.root || key.ID == other.ID {
		t.Errorf("new root %s, want a new key", key.ID)
	}
}

// RunInstances enforces the per-account instance quota, Amount included,
// and creates nothing when refused.
func TestRunInstancesQuota(t *testing.T) {
	q := DefaultQuotas()
	q.InstancesPerAccount = 2
	s := New(memory.New(), Config{Quotas: q})
	ctx := context.Background()
	vpc, err := s.CreateVpc(ctx, "1", CreateVpcInput{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	vsw, err := s.CreateVSwitch(ctx, "1", CreateVSwitchInput{VpcID: vpc.VpcID, ZoneID: s.DefaultZone(), CidrBlock: "10.0.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := s.CreateSecurityGroup(ctx, "1", CreateSecurityGroupInput{VpcID: vpc.VpcID})
	if err != nil {
		t.Fatal(err)
	}
	run := func(n int) error {
		_, err := s.RunInstances(ctx, "1", RunInstancesInput{ImageID: "img", InstanceType: "t", VSwitchID: vsw, SecurityGroupIDs: []string{sg}, Amount: n})
		return err
	}
	if err := run(3); !errs.HasCode(err, "QuotaExceed.Instance") {
		t.Fatalf("3 instances over a quota of 2: %v", err)
	}
	if err := run(2); err != nil {
		t.Fatalf("2 instances: %v", err)
	}
	if err := run(1); !errs.HasCode(err, "QuotaExceed.Instance") {
		t.Errorf("a third instance: %v", err)
	}
	var n int
	_ = s.view(ctx, func(tx store.ReadTxn) error {
		return listJSON(tx, model.PrefixInstance, func(*model.Instance) error { n++; return nil })
	})
	if n != 2 {
		t.Errorf("%d instances stored, want 2", n)
	}
}

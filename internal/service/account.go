package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Access key and account limits.
const (
	accessKeyIDLen     = 20 // alphanumerics after "LTAI"
	accessKeySecretLen = 30
	accountIDDigits    = 16
	maxKeysPerAccount  = 20
	adminAccountName   = "admin"
)

var (
	accountNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)
	// presetKeyIDRe accepts the printable, unreserved characters a key ID
	// may reasonably hold; it must survive a query string unchanged.
	presetKeyIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{4,128}$`)
)

// randomString returns n characters drawn uniformly from alphabet.
func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(fmt.Sprintf("crypto/rand: %v", err))
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewAccessKeyID returns "LTAI" + 20 alphanumerics, like the cloud's keys.
func NewAccessKeyID() string { return "LTAI" + randomString(alnum, accessKeyIDLen) }

// NewAccessKeySecret returns a 30-character alphanumeric secret.
func NewAccessKeySecret() string { return randomString(alnum, accessKeySecretLen) }

// newAccountID returns a 16-digit number with no leading zero, like an
// Alibaba Cloud UID.
func newAccountID() string {
	return randomString("123456789", 1) + randomString("0123456789", accountIDDigits-1)
}

func errNotAdmin() *errs.Error {
	return errs.Forbidden("Forbidden.NotAdmin", "This action is reserved to the admin account.")
}

func errAccountNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidAccountId.NotFound", "The specified AccountId %q does not exist.", id)
}

// Store keys of the root key's bookkeeping (not resources: no prefix of
// package model, not mirrored to agents).
const (
	// keyRootKey holds the ID of the root key: the admin key Palisade
	// publishes in credentials.json (or takes from the environment).
	keyRootKey = "meta/rootkey"
	// prefixRevokedKey + key ID -> deletion time: a deleted key ID is
	// never accepted again, not even as a preset from the environment.
	prefixRevokedKey = "meta/revokedkey/"
)

// EnsureAdmin makes sure the admin account and its root key exist and
// returns them. On first start it creates the account (and created is
// true). The root key is the admin key that the server publishes
// (credentials.json); its ID is recorded in the store.
//
// With a preset (presetID and presetSecret, both or neither, from
// PALISADE_ROOT_ACCESS_KEY_ID/SECRET) that pair becomes the root key: it is
// added to the admin account if absent, its secret is updated if it
// changed, and the previous root key, if another, is revoked (deleted).
// A preset whose ID was deleted before is refused.
//
// Without a preset the recorded root key is kept; if it was deleted, a new
// one is made. publishedID is the key ID found in credentials.json: data
// directories from before the root key was recorded use it (or else the
// oldest admin key) as the previous root key.
func (s *Service) EnsureAdmin(ctx context.Context, presetID, presetSecret, publishedID string) (model.Account, model.AccessKey, bool, error) {
	if (presetID == "") != (presetSecret == "") {
		return model.Account{}, model.AccessKey{}, false, errors.New("service: the preset admin key needs both an ID and a secret")
	}
	if presetID != "" && !presetKeyIDRe.MatchString(presetID) {
		return model.Account{}, model.AccessKey{}, false, fmt.Errorf("service: preset admin key ID %q: want 4 to 128 of A-Z a-z 0-9 . _ -", presetID)
	}
	var (
		admin   model.Account
		key     model.AccessKey
		created bool
		revoked string
	)
	_, err := s.update(ctx, func(tx store.Txn) error {
		created, revoked = false, ""
		var found bool
		var err error
		admin, found, err = findAdmin(tx)
		if err != nil {
			return err
		}
		if !found {
			admin = model.Account{ID: newAccountID(), Name: adminAccountName, Admin: true, CreatedAt: s.now()}
			if err := putJSON(tx, model.PrefixAccount+admin.ID, admin); err != nil {
				return err
			}
			created = true
		}
		key, revoked, err = s.ensureRootKey(tx, admin, presetID, presetSecret, publishedID)
		return err
	})
	if err != nil {
		return model.Account{}, model.AccessKey{}, false, fmt.Errorf("ensure admin: %w", err)
	}
	if revoked != "" {
		s.log.Warn("previous root access key revoked: the key from the environment replaces it",
			"revoked_access_key_id", revoked, "access_key_id", key.ID)
	}
	return admin, key, created, nil
}

// ensureRootKey returns the root key (see EnsureAdmin) and the ID of the
// previous root key it revoked, if any.
func (s *Service) ensureRootKey(tx store.Txn, admin model.Account, presetID, presetSecret, publishedID string) (model.AccessKey, string, error) {
	prev, recorded, err := rootKeyID(tx)
	if err != nil {
		return model.AccessKey{}, "", err
	}
	if !recorded {
		prev = publishedID
	}
	// prevKey is the previous root key if it still exists.
	var prevKey *model.AccessKey
	if prev != "" {
		var k model.AccessKey
		ok, err := getJSON(tx, model.PrefixAccessKey+prev, &k)
		if err != nil {
			return model.AccessKey{}, "", err
		}
		if ok && k.AccountID == admin.ID {
			prevKey = &k
		}
	}
	if presetID != "" {
		if _, gone, err := tx.Get(prefixRevokedKey + presetID); err != nil {
			return model.AccessKey{}, "", err
		} else if gone {
			return model.AccessKey{}, "", fmt.Errorf("the preset root key %s (PALISADE_ROOT_ACCESS_KEY_ID) was deleted before and a deleted key is never valid again: preset a new key pair", presetID)
		}
		var k model.AccessKey
		ok, err := getJSON(tx, model.PrefixAccessKey+presetID, &k)
		if err != nil {
			return model.AccessKey{}, "", err
		}
		if ok && k.AccountID != admin.ID {
			return model.AccessKey{}, "", fmt.Errorf("preset admin key %s belongs to account %s, not to the admin", presetID, k.AccountID)
		}
		if ok && k.AgentZone != "" {
			return model.AccessKey{}, "", fmt.Errorf("preset admin key %s is the agent key of zone %s, which cannot administer: preset another key pair", presetID, k.AgentZone)
		}
		if !ok {
			k = model.AccessKey{ID: presetID, AccountID: admin.ID, CreatedAt: s.now()}
		}
		if k.Secret != presetSecret {
			k.Secret = presetSecret // the environment is authoritative
			if err := putJSON(tx, model.PrefixAccessKey+k.ID, k); err != nil {
				return model.AccessKey{}, "", err
			}
		}
		revoked := ""
		if prevKey != nil && prevKey.ID != k.ID {
			if err := s.revokeKey(tx, prevKey.ID); err != nil {
				return model.AccessKey{}, "", err
			}
			revoked = prevKey.ID
		}
		return k, revoked, setRootKeyID(tx, k.ID)
	}
	if prevKey != nil {
		return *prevKey, "", setRootKeyID(tx, prevKey.ID)
	}
	if !recorded {
		// A data directory from before the record: the oldest admin key
		// was the published one.
		keys, err := accountKeys(tx, admin.ID)
		if err != nil {
			return model.AccessKey{}, "", err
		}
		if len(keys) > 0 {
			return keys[0], "", setRootKeyID(tx, keys[0].ID)
		}
	}
	// First start, or the root key was deleted: a new one.
	k := model.AccessKey{ID: NewAccessKeyID(), Secret: NewAccessKeySecret(), AccountID: admin.ID, CreatedAt: s.now()}
	if err := putJSON(tx, model.PrefixAccessKey+k.ID, k); err != nil {
		return model.AccessKey{}, "", err
	}
	return k, "", setRootKeyID(tx, k.ID)
}

// rootKeyID reads the recorded root key ID.
func rootKeyID(tx store.ReadTxn) (string, bool, error) {
	b, ok, err := tx.Get(keyRootKey)
	return string(b), ok, err
}

func setRootKeyID(tx store.Txn, id string) error { return tx.Put(keyRootKey, []byte(id)) }

// revokeKey deletes a key and remembers its ID as revoked.
func (s *Service) revokeKey(tx store.Txn, id string) error {
	if err := tx.Delete(model.PrefixAccessKey + id); err != nil {
		return err
	}
	return tx.Put(prefixRevokedKey+id, []byte(s.now().Format(time.RFC3339)))
}

// findAdmin returns the admin account, if any.
func findAdmin(tx store.ReadTxn) (model.Account, bool, error) {
	var admin model.Account
	var found bool
	err := listJSON(tx, model.PrefixAccount, func(a *model.Account) error {
		if a.Admin && (!found || a.CreatedAt.Before(admin.CreatedAt)) {
			admin, found = *a, true
		}
		return nil
	})
	return admin, found, err
}

// accountKeys lists an account's keys, oldest first (ID breaks ties).
func accountKeys(tx store.ReadTxn, accountID string) ([]model.AccessKey, error) {
	var keys []model.AccessKey
	err := listJSON(tx, model.PrefixAccessKey, func(k *model.AccessKey) error {
		if k.AccountID == accountID {
			keys = append(keys, *k)
		}
		return nil
	})
	sort.Slice(keys, func(i, j int) bool {
		if !keys[i].CreatedAt.Equal(keys[j].CreatedAt) {
			return keys[i].CreatedAt.Before(keys[j].CreatedAt)
		}
		return keys[i].ID < keys[j].ID
	})
	return keys, err
}

// requireAdmin loads the caller and checks it is the admin.
func requireAdmin(tx store.ReadTxn, callerID string) error {
	var caller model.Account
	ok, err := getJSON(tx, model.PrefixAccount+callerID, &caller)
	if err != nil {
		return err
	}
	if !ok || !caller.Admin {
		return errNotAdmin()
	}
	return nil
}

// CreateAccount creates an account named name with a first access key.
// Only the admin may call it; names are unique.
func (s *Service) CreateAccount(ctx context.Context, callerAccountID, name string) (model.Account, model.AccessKey, error) {
	if !accountNameRe.MatchString(name) {
		return model.Account{}, model.AccessKey{}, errs.InvalidParam("InvalidAccountName.Malformed",
			"The specified AccountName %q is not valid: use 1 to 64 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit.", name)
	}
	var acct model.Account
	var key model.AccessKey
	_, err := s.update(ctx, func(tx store.Txn) error {
		if err := requireAdmin(tx, callerAccountID); err != nil {
			return err
		}
		err := listJSON(tx, model.PrefixAccount, func(a *model.Account) error {
			if a.Name == name {
				return errs.Conflict("InvalidAccountName.Duplicate", "An account named %q already exists.", name)
			}
			return nil
		})
		if err != nil {
			return err
		}
		acct = model.Account{ID: newAccountID(), Name: name, CreatedAt: s.now()}
		for {
			// 16 random digits rarely collide; make sure anyway.
			_, taken, err := tx.Get(model.PrefixAccount + acct.ID)
			if err != nil {
				return err
			}
			if !taken {
				break
			}
			acct.ID = newAccountID()
		}
		key = model.AccessKey{ID: NewAccessKeyID(), Secret: NewAccessKeySecret(), AccountID: acct.ID, CreatedAt: s.now()}
		if err := putJSON(tx, model.PrefixAccount+acct.ID, acct); err != nil {
			return err
		}
		return putJSON(tx, model.PrefixAccessKey+key.ID, key)
	})
	if err != nil {
		return model.Account{}, model.AccessKey{}, err
	}
	return acct, key, nil
}

// CreateAccessKey adds a key to targetAccountID ("" = the caller's own
// account). Only the admin may create keys for another account. With
// agentZone, the key is an agent key of the admin account for that zone
// (model.AccessKey.AgentZone): only the admin may create one, for itself.
func (s *Service) CreateAccessKey(ctx context.Context, callerAccountID, targetAccountID, agentZone string) (model.AccessKey, error) {
	if targetAccountID == "" {
		targetAccountID = callerAccountID
	}
	if agentZone != "" && !zoneIDRe.MatchString(agentZone) {
		return model.AccessKey{}, errs.InvalidParam("InvalidZoneId.Malformed",
			"The specified AgentZoneId %q is not valid: use lowercase letters, digits and '-', at most 63 characters.", agentZone)
	}
	var key model.AccessKey
	_, err := s.update(ctx, func(tx store.Txn) error {
		if targetAccountID != callerAccountID || agentZone != "" {
			if err := requireAdmin(tx, callerAccountID); err != nil {
				return err
			}
		}
		if agentZone != "" && targetAccountID != callerAccountID {
			return errs.InvalidParameter("AccountId",
				"an agent key (AgentZoneId) belongs to the admin account %s; leave AccountId out or give that account", callerAccountID)
		}
		var target model.Account
		ok, err := getJSON(tx, model.PrefixAccount+targetAccountID, &target)
		if err != nil {
			return err
		}
		if !ok {
			return errAccountNotFound(targetAccountID)
		}
		keys, err := accountKeys(tx, target.ID)
		if err != nil {
			return err
		}
		if len(keys) >= maxKeysPerAccount {
			return errs.Quota("QuotaExceeded.AccessKey", "Account %s already has %d access keys, the maximum.", target.ID, maxKeysPerAccount)
		}
		key = model.AccessKey{ID: NewAccessKeyID(), Secret: NewAccessKeySecret(), AccountID: target.ID, CreatedAt: s.now(), AgentZone: agentZone}
		return putJSON(tx, model.PrefixAccessKey+key.ID, key)
	})
	if err != nil {
		return model.AccessKey{}, err
	}
	return key, nil
}

func errAccessKeyNotFound(id string) *errs.Error {
	// Not InvalidAccessKeyId.NotFound: that is the signing key's error.
	return errs.NotFound("InvalidUserAccessKeyId.NotFound", "The specified UserAccessKeyId %q does not exist.", id)
}

// DeleteAccessKey deletes (revokes) a key: requests signed with it fail
// from then on. An account may delete its own keys, the admin any key; a
// key of another account is not found for a non-admin caller. The last
// key of an admin account cannot be deleted (the admin would lock itself
// out). rootDeleted reports that the key was the root key (the one
// published in credentials.json).
func (s *Service) DeleteAccessKey(ctx context.Context, callerAccountID, keyID string) (rootDeleted bool, err error) {
	if keyID == "" {
		return false, errs.MissingParameter("UserAccessKeyId")
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		rootDeleted = false
		var key model.AccessKey
		ok, err := getJSON(tx, model.PrefixAccessKey+keyID, &key)
		if err != nil {
			return err
		}
		if !ok {
			return errAccessKeyNotFound(keyID)
		}
		if key.AccountID != callerAccountID {
			if err := requireAdmin(tx, callerAccountID); err != nil {
				if errs.HasCode(err, "Forbidden.NotAdmin") {
					return errAccessKeyNotFound(keyID) // no probing of other accounts' keys
				}
				return err
			}
		}
		var owner model.Account
		if _, err := getJSON(tx, model.PrefixAccount+key.AccountID, &owner); err != nil {
			return err
		}
		if owner.Admin && key.AgentZone == "" {
			keys, err := accountKeys(tx, owner.ID)
			if err != nil {
				return err
			}
			// Agent keys cannot administer: they do not count.
			full := 0
			for _, k := range keys {
				if k.AgentZone == "" {
					full++
				}
			}
			if full <= 1 {
				return errs.Forbidden("OperationDenied.LastAdminAccessKey",
					"Access key %s is the last key of the admin account %s that is not an agent key; deleting it would lock the admin out. Create another key first (CreateAccessKey), then delete this one.",
					keyID, owner.ID)
			}
		}
		root, _, err := rootKeyID(tx)
		if err != nil {
			return err
		}
		rootDeleted = root == keyID
		return s.revokeKey(tx, keyID)
	})
	if err != nil {
		return false, err
	}
	if rootDeleted && s.cfg.RootKeyDeleted != nil {
		s.cfg.RootKeyDeleted(keyID)
	}
	return rootDeleted, nil
}

// AccessKeyInfo describes a key without its secret.
type AccessKeyInfo struct {
	ID, AccountID string
	CreatedAt     time.Time
	// Root: the admin's root key (credentials.json or the environment).
	Root bool
	// AgentZone: an agent key for this zone (model.AccessKey.AgentZone).
	AgentZone string
}

// DescribeAccessKeys lists the keys of targetAccountID ("" = the caller's
// own account), oldest first, never with their secrets. Only the admin may
// list another account's keys.
func (s *Service) DescribeAccessKeys(ctx context.Context, callerAccountID, targetAccountID string) ([]AccessKeyInfo, error) {
	if targetAccountID == "" {
		targetAccountID = callerAccountID
	}
	var out []AccessKeyInfo
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		if targetAccountID != callerAccountID {
			if err := requireAdmin(tx, callerAccountID); err != nil {
				return err
			}
		}
		ok, err := getJSON(tx, model.PrefixAccount+targetAccountID, &model.Account{})
		if err != nil {
			return err
		}
		if !ok {
			return errAccountNotFound(targetAccountID)
		}
		root, _, err := rootKeyID(tx)
		if err != nil {
			return err
		}
		keys, err := accountKeys(tx, targetAccountID)
		if err != nil {
			return err
		}
		for _, k := range keys {
			out = append(out, AccessKeyInfo{ID: k.ID, AccountID: k.AccountID, CreatedAt: k.CreatedAt, Root: k.ID == root, AgentZone: k.AgentZone})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeAccounts lists every account, oldest first. Admin only.
func (s *Service) DescribeAccounts(ctx context.Context, callerAccountID string) ([]model.Account, error) {
	var out []model.Account
	err := s.view(ctx, func(tx store.ReadTxn) error {
		if err := requireAdmin(tx, callerAccountID); err != nil {
			return err
		}
		out = out[:0]
		return listJSON(tx, model.PrefixAccount, func(a *model.Account) error {
			out = append(out, *a)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// LookupAccessKey returns a key and its account, for authentication. An
// unknown key (or a key whose account is gone) is 404
// InvalidAccessKeyId.NotFound.
func (s *Service) LookupAccessKey(ctx context.Context, keyID string) (model.AccessKey, model.Account, error) {
	var key model.AccessKey
	var acct model.Account
	notFound := errs.NotFound("InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	err := s.view(ctx, func(tx store.ReadTxn) error {
		ok, err := getJSON(tx, model.PrefixAccessKey+keyID, &key)
		if err != nil {
			return err
		}
		if !ok {
			return notFound
		}
		ok, err = getJSON(tx, model.PrefixAccount+key.AccountID, &acct)
		if err != nil {
			return err
		}
		if !ok {
			return notFound
		}
		return nil
	})
	if err != nil {
		return model.AccessKey{}, model.Account{}, err
	}
	return key, acct, nil
}

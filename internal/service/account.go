package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"

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

// EnsureAdmin makes sure the admin account and an admin key exist and
// returns them. On first start it creates the account (and created is
// true). When presetID/presetSecret are given (both or neither) that pair
// is the returned admin key: it is added to the admin account if absent,
// and its secret is updated if it changed. Without a preset, the oldest
// admin key is returned, or a new one if the admin has none.
func (s *Service) EnsureAdmin(ctx context.Context, presetID, presetSecret string) (model.Account, model.AccessKey, bool, error) {
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
	)
	_, err := s.update(ctx, func(tx store.Txn) error {
		created = false
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
		key, err = s.ensureAdminKey(tx, admin, presetID, presetSecret)
		return err
	})
	if err != nil {
		return model.Account{}, model.AccessKey{}, false, fmt.Errorf("ensure admin: %w", err)
	}
	return admin, key, created, nil
}

// ensureAdminKey returns the admin key to publish (see EnsureAdmin).
func (s *Service) ensureAdminKey(tx store.Txn, admin model.Account, presetID, presetSecret string) (model.AccessKey, error) {
	if presetID != "" {
		var k model.AccessKey
		ok, err := getJSON(tx, model.PrefixAccessKey+presetID, &k)
		if err != nil {
			return model.AccessKey{}, err
		}
		if ok && k.AccountID != admin.ID {
			return model.AccessKey{}, fmt.Errorf("preset admin key %s belongs to account %s, not to the admin", presetID, k.AccountID)
		}
		if ok && k.Secret == presetSecret {
			return k, nil
		}
		if !ok {
			k = model.AccessKey{ID: presetID, AccountID: admin.ID, CreatedAt: s.now()}
		}
		k.Secret = presetSecret // the environment is authoritative
		return k, putJSON(tx, model.PrefixAccessKey+k.ID, k)
	}
	keys, err := accountKeys(tx, admin.ID)
	if err != nil {
		return model.AccessKey{}, err
	}
	if len(keys) > 0 {
		return keys[0], nil
	}
	k := model.AccessKey{ID: NewAccessKeyID(), Secret: NewAccessKeySecret(), AccountID: admin.ID, CreatedAt: s.now()}
	return k, putJSON(tx, model.PrefixAccessKey+k.ID, k)
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
// account). Only the admin may create keys for another account.
func (s *Service) CreateAccessKey(ctx context.Context, callerAccountID, targetAccountID string) (model.AccessKey, error) {
	if targetAccountID == "" {
		targetAccountID = callerAccountID
	}
	var key model.AccessKey
	_, err := s.update(ctx, func(tx store.Txn) error {
		if targetAccountID != callerAccountID {
			if err := requireAdmin(tx, callerAccountID); err != nil {
				return err
			}
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
		key = model.AccessKey{ID: NewAccessKeyID(), Secret: NewAccessKeySecret(), AccountID: target.ID, CreatedAt: s.now()}
		return putJSON(tx, model.PrefixAccessKey+key.ID, key)
	})
	if err != nil {
		return model.AccessKey{}, err
	}
	return key, nil
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

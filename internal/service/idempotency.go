package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// withClientToken makes a create action idempotent on ClientToken: when a
// result is stored for (account, action, token) it is decoded into result
// and create is not run; otherwise create runs (filling result) and the
// result is stored in the same transaction. An empty token disables it.
//
// params is the request's input: a token reused with other parameters is
// IdempotentParameterMismatch, as in the cloud, not the earlier result (a
// retry loop that changed its request would otherwise believe it created
// what it asked for). Results stored before fingerprints were kept replay
// without the check.
func withClientToken(tx store.Txn, accountID, action, token string, params any, result any, create func() error) (replayed bool, err error) {
	if token == "" {
		return false, create()
	}
	key := model.PrefixIdempotency + accountID + "/" + action + "/" + token
	b, err := json.Marshal(params)
	if err != nil {
		return false, fmt.Errorf("client token parameters: %w", err)
	}
	sum := sha256.Sum256(b)
	fingerprint := hex.EncodeToString(sum[:])
	ok, err := getJSON(tx, key, result)
	if err != nil {
		return false, err
	}
	if ok {
		var stored string
		if has, err := getJSON(tx, key+"#params", &stored); err != nil {
			return false, err
		} else if has && stored != fingerprint {
			return false, errs.New(http.StatusBadRequest, "IdempotentParameterMismatch",
				"The ClientToken %q was used with other parameters for %s: use a new ClientToken for a different request.", token, action)
		}
		return true, nil
	}
	if err := create(); err != nil {
		return false, err
	}
	if err := putJSON(tx, key+"#params", fingerprint); err != nil {
		return false, err
	}
	return false, putJSON(tx, key, result)
}

// changeOwned is the shape of every attribute update: in one transaction,
// with ClientToken and DryRun, it reads a resource of the caller (get
// fails with the resource's not-found error), lets change alter it (or
// refuse), and writes it back under key.
func changeOwned[T any](s *Service, ctx context.Context, accountID, action, id, token string, params any, dryRun bool,
	get func(tx store.ReadTxn) (*T, error), change func(tx store.Txn, v *T) error, key func(v *T) string) error {
	return ownedTxn(s, ctx, accountID, action, id, token, params, dryRun, get, change,
		func(tx store.Txn, v *T) error { return putJSON(tx, key(v), v) })
}

// deleteOwned is the shape of every delete: like changeOwned, with check
// refusing (a dependency) or cleaning up first, and the record under key
// deleted.
func deleteOwned[T any](s *Service, ctx context.Context, accountID, action, id, token string, dryRun bool,
	get func(tx store.ReadTxn) (*T, error), check func(tx store.Txn, v *T) error, key func(v *T) string) error {
	return ownedTxn(s, ctx, accountID, action, id, token, dryRun, dryRun, get, check,
		func(tx store.Txn, v *T) error { return tx.Delete(key(v)) })
}

// ownedTxn runs get, apply and (unless a dry run) commit on a resource of
// the caller in one transaction, with ClientToken.
func ownedTxn[T any](s *Service, ctx context.Context, accountID, action, id, token string, params any, dryRun bool,
	get func(tx store.ReadTxn) (*T, error), apply, commit func(tx store.Txn, v *T) error) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		var done bool
		_, err := withClientToken(tx, accountID, action+"/"+id, token, params, &done, func() error {
			v, err := get(tx)
			if err != nil {
				return err
			}
			if err := apply(tx, v); err != nil {
				return err
			}
			if dryRun {
				return errDryRun
			}
			done = true
			return commit(tx, v)
		})
		return err
	})
	return err
}

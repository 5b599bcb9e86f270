package service

import (
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// withClientToken makes a create action idempotent on ClientToken: when a
// result is stored for (account, action, token) it is decoded into result
// and create is not run; otherwise create runs (filling result) and the
// result is stored in the same transaction. An empty token disables it.
func withClientToken(tx store.Txn, accountID, action, token string, result any, create func() error) (replayed bool, err error) {
	if token == "" {
		return false, create()
	}
	key := model.PrefixIdempotency + accountID + "/" + action + "/" + token
	ok, err := getJSON(tx, key, result)
	if err != nil {
		return false, err
	}
	if ok {
		return true, nil
	}
	if err := create(); err != nil {
		return false, err
	}
	return false, putJSON(tx, key, result)
}

package api

import (
	"context"
	"time"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// Palisade's own account actions, under VersionPalisade. Their shapes
// follow the classic ECS style (wrapped lists, PascalCase fields).

type accountItem struct {
	AccountId    string
	AccountName  string
	Admin        bool
	CreationTime string
}

type createAccountResponse struct {
	AccountId       string
	AccountName     string
	AccessKeyId     string
	AccessKeySecret string
}

type createAccessKeyResponse struct {
	AccountId       string
	AccessKeyId     string
	AccessKeySecret string
	AgentZoneId     string `json:",omitempty"` // an agent key's zone
}

type describeAccountsResponse struct {
	TotalCount int
	Accounts   struct {
		Account []accountItem
	}
}

type accessKeyItem struct {
	AccessKeyId  string
	AccountId    string
	CreationTime string
	Status       string // always Active: a deleted key is gone
	Root         bool   // the admin's root key (credentials.json or the environment)
	AgentZoneId  string // an agent key's zone; empty for a full key
}

type describeAccessKeysResponse struct {
	TotalCount int
	AccessKeys struct {
		AccessKey []accessKeyItem
	}
}

// RegisterPalisade registers CreateAccount, DescribeAccounts,
// CreateAccessKey, DeleteAccessKey and DescribeAccessKeys.
func RegisterPalisade(rt *Router, svc *service.Service) {
	rt.Handle(VersionPalisade, "CreateAccount", func(ctx context.Context, r *Request) (any, error) {
		name, err := r.Params.Required("AccountName")
		if err != nil {
			return nil, err
		}
		acct, key, err := svc.CreateAccount(ctx, r.Account.ID, name)
		if err != nil {
			return nil, err
		}
		return createAccountResponse{
			AccountId: acct.ID, AccountName: acct.Name,
			AccessKeyId: key.ID, AccessKeySecret: key.Secret,
		}, nil
	})
	rt.Handle(VersionPalisade, "DescribeAccounts", func(ctx context.Context, r *Request) (any, error) {
		accts, err := svc.DescribeAccounts(ctx, r.Account.ID)
		if err != nil {
			return nil, err
		}
		var resp describeAccountsResponse
		resp.TotalCount = len(accts)
		resp.Accounts.Account = make([]accountItem, 0, len(accts))
		for _, a := range accts {
			resp.Accounts.Account = append(resp.Accounts.Account, toAccountItem(a))
		}
		return resp, nil
	})
	rt.Handle(VersionPalisade, "CreateAccessKey", func(ctx context.Context, r *Request) (any, error) {
		key, err := svc.CreateAccessKey(ctx, r.Account.ID, r.Params.Get("AccountId"), r.Params.Get("AgentZoneId"))
		if err != nil {
			return nil, err
		}
		return createAccessKeyResponse{AccountId: key.AccountID, AccessKeyId: key.ID, AccessKeySecret: key.Secret, AgentZoneId: key.AgentZone}, nil
	})
	// DeleteAccessKey revokes a key at once: every request looks its key
	// up in the store. The key is UserAccessKeyId, as in RAM's
	// DeleteAccessKey: AccessKeyId is the signature's own parameter.
	rt.Handle(VersionPalisade, "DeleteAccessKey", func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("UserAccessKeyId")
		if err != nil {
			return nil, err
		}
		if _, err := svc.DeleteAccessKey(ctx, r.Account.ID, id); err != nil {
			return nil, err
		}
		return empty{}, nil
	})
	// DescribeAccessKeys never returns secrets.
	rt.Handle(VersionPalisade, "DescribeAccessKeys", func(ctx context.Context, r *Request) (any, error) {
		keys, err := svc.DescribeAccessKeys(ctx, r.Account.ID, r.Params.Get("AccountId"))
		if err != nil {
			return nil, err
		}
		var resp describeAccessKeysResponse
		resp.TotalCount = len(keys)
		resp.AccessKeys.AccessKey = make([]accessKeyItem, 0, len(keys))
		for _, k := range keys {
			resp.AccessKeys.AccessKey = append(resp.AccessKeys.AccessKey, accessKeyItem{
				AccessKeyId: k.ID, AccountId: k.AccountID, CreationTime: k.CreatedAt.UTC().Format(time.RFC3339),
				Status: "Active", Root: k.Root, AgentZoneId: k.AgentZone,
			})
		}
		return resp, nil
	})
}

func toAccountItem(a model.Account) accountItem {
	return accountItem{
		AccountId:    a.ID,
		AccountName:  a.Name,
		Admin:        a.Admin,
		CreationTime: a.CreatedAt.UTC().Format(time.RFC3339),
	}
}

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
}

type describeAccountsResponse struct {
	TotalCount int
	Accounts   struct {
		Account []accountItem
	}
}

// RegisterPalisade registers CreateAccount, DescribeAccounts and
// CreateAccessKey.
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
		key, err := svc.CreateAccessKey(ctx, r.Account.ID, r.Params.Get("AccountId"))
		if err != nil {
			return nil, err
		}
		return createAccessKeyResponse{AccountId: key.AccountID, AccessKeyId: key.ID, AccessKeySecret: key.Secret}, nil
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

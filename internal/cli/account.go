package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
)

func (c *cli) accountCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Manage accounts and their access keys (admin only)",
		Long: `Manage Palisade accounts (tenants) and their access keys with Palisade's own
actions (version 2026-11-01). Only the admin account may create accounts.`,
		Example: `  palisade account create alice
  palisade account list
  palisade account key create 1234567890123456`,
	}
	create := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create an account and its first access key",
		Long:    "Create an account (CreateAccount) and print its ID and first access key ID and secret.\nThe secret is shown only once.",
		Example: `  palisade account create alice`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionPalisade, "CreateAccount", map[string]string{"AccountName": args[0]})
			if err != nil {
				return err
			}
			return c.render(cmd, resp, func(w io.Writer) error {
				return kv(w, resp, "AccountId", "AccountName", "AccessKeyId", "AccessKeySecret")
			})
		},
	}
	list := &cobra.Command{
		Use:     "list",
		Short:   "List accounts",
		Long:    "List the accounts visible to the caller (DescribeAccounts): all of them for the admin.",
		Example: "  palisade account list\n  palisade account list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionPalisade, "DescribeAccounts", nil)
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, objects(resp, "Accounts", "Account"), []column{
				field("AccountId", "AccountId"), field("AccountName", "AccountName"),
				field("Admin", "Admin"), field("CreationTime", "CreationTime"),
			})
		},
	}
	key := &cobra.Command{
		Use:   "key",
		Short: "Manage access keys",
	}
	keyCreate := &cobra.Command{
		Use:     "create ACCOUNT_ID",
		Short:   "Create an access key for an account",
		Long:    "Create an access key for ACCOUNT_ID (CreateAccessKey) and print its ID and secret.\nThe secret is shown only once.",
		Example: "  palisade account key create 1234567890123456",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionPalisade, "CreateAccessKey", map[string]string{"AccountId": args[0]})
			if err != nil {
				return err
			}
			return c.render(cmd, resp, func(w io.Writer) error {
				return kv(w, resp, "AccountId", "AccessKeyId", "AccessKeySecret")
			})
		},
	}
	key.AddCommand(keyCreate)
	cmd.AddCommand(create, list, key)
	return cmd
}

package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
)

func (c *cli) accountCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Manage accounts and their access keys",
		Long: `Manage Palisade accounts (tenants) and their access keys with Palisade's own
actions (version 2026-11-01). Only the admin account may create accounts; an
account may list and delete its own keys, the admin those of any account.`,
		Example: `  palisade account create alice
  palisade account list
  palisade account key create 1234567890123456
  palisade account key create --agent-zone local-b
  palisade account key list 1234567890123456
  palisade account key delete LTAIxxxxxxxxxxxxxxxxxxxx`,
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
	var agentZone string
	keyCreate := &cobra.Command{
		Use:   "create [ACCOUNT_ID] [--agent-zone ZONE]",
		Short: "Create an access key for an account, or an agent key for a zone",
		Long: `Create an access key for ACCOUNT_ID, the caller's own account without it
(CreateAccessKey), and print its ID and secret. The secret is shown only once.

With --agent-zone, the admin creates an agent key for that zone: it signs the
agent actions only (DescribeState, WaitState, RegisterZone, ReportStatus and
the flow-log and WAF-log reports), and only for that zone's instances, ENIs
and EIPs. Give it to "palisade agent --zone ZONE" on the zone's host instead
of the admin key: that host then holds no key that can change resources.`,
		Example: "  palisade account key create 1234567890123456\n  palisade account key create --agent-zone local-b",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			params := map[string]string{}
			if len(args) == 1 {
				params["AccountId"] = args[0]
			}
			if agentZone != "" {
				params["AgentZoneId"] = agentZone
			}
			resp, err := c.call(cmd, apiclient.VersionPalisade, "CreateAccessKey", params)
			if err != nil {
				return err
			}
			return c.render(cmd, resp, func(w io.Writer) error {
				if agentZone != "" {
					return kv(w, resp, "AccountId", "AccessKeyId", "AccessKeySecret", "AgentZoneId")
				}
				return kv(w, resp, "AccountId", "AccessKeyId", "AccessKeySecret")
			})
		},
	}
	keyCreate.Flags().StringVar(&agentZone, "agent-zone", "", "create an agent key of the admin account for this zone")
	keyList := &cobra.Command{
		Use:   "list [ACCOUNT_ID]",
		Short: "List the access keys of an account (never their secrets)",
		Long: `List the access keys of ACCOUNT_ID (DescribeAccessKeys), oldest first, without
their secrets. Without ACCOUNT_ID: the caller's own keys. Root marks the
admin's root key (the one in credentials.json or from the environment);
AgentZoneId the zone of an agent key.`,
		Example: "  palisade account key list\n  palisade account key list 1234567890123456 -o json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			params := map[string]string{}
			if len(args) == 1 {
				params["AccountId"] = args[0]
			}
			resp, err := c.call(cmd, apiclient.VersionPalisade, "DescribeAccessKeys", params)
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, objects(resp, "AccessKeys", "AccessKey"), []column{
				field("AccessKeyId", "AccessKeyId"), field("AccountId", "AccountId"),
				field("Root", "Root"), field("AgentZoneId", "AgentZoneId"), field("CreationTime", "CreationTime"),
			})
		},
	}
	keyDelete := &cobra.Command{
		Use:   "delete ACCESS_KEY_ID",
		Short: "Delete (revoke) an access key",
		Long: `Delete the access key ACCESS_KEY_ID (DeleteAccessKey): requests signed with it
fail at once, and its ID is never valid again. An account may delete its own
keys, the admin any key; the admin account's last key cannot be deleted
(create another one first).`,
		Example: "  palisade account key delete LTAIxxxxxxxxxxxxxxxxxxxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionPalisade, "DeleteAccessKey", map[string]string{"UserAccessKeyId": args[0]})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	key.AddCommand(keyCreate, keyList, keyDelete)
	cmd.AddCommand(create, list, key)
	return cmd
}

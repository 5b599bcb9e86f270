package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
)

// lbACLType checks an --acl-type flag: white, black or, when optional,
// empty.
func lbACLType(v string, optional bool) (string, error) {
	switch t := strings.ToLower(v); {
	case t == "white" || t == "black":
		return t, nil
	case t == "" && optional:
		return "", nil
	}
	return "", fmt.Errorf("invalid --acl-type %q: use white or black", v)
}

// listenerACLParams adds the access control parameters of the --acl,
// --acl-type and --acl-off flags to p. Adding a listener, --acl needs
// --acl-type; changing one, either alone changes that much of a list
// that is on (the server says what is missing otherwise).
func listenerACLParams(p map[string]string, acl, aclType string, off, create bool) error {
	t, err := lbACLType(aclType, true)
	if err != nil {
		return err
	}
	switch {
	case off && (acl != "" || t != ""):
		return fmt.Errorf("--acl-off turns access control off: give it without --acl and --acl-type")
	case off:
		p["AclStatus"] = "off"
	case create && acl != "" && t == "":
		return fmt.Errorf("--acl needs --acl-type white (admit only the list's addresses) or black (refuse them)")
	case create && acl == "" && t != "":
		return fmt.Errorf("--acl-type needs --acl, the access control list (acl-...) it applies")
	case acl != "" || t != "":
		p["AclStatus"] = "on"
		if acl != "" {
			p["AclId"] = acl
		}
		if t != "" {
			p["AclType"] = t
		}
	}
	return nil
}

// lbACLEntries is the AclEntrys parameter: a JSON array of the entries,
// each with the comment when given.
func lbACLEntries(entries []string, comment string) (string, error) {
	type entry struct {
		Entry   string `json:"entry"`
		Comment string `json:"comment,omitempty"`
	}
	list := make([]entry, 0, len(entries))
	for _, e := range entries {
		if e = strings.TrimSpace(e); e != "" {
			list = append(list, entry{Entry: e, Comment: comment})
		}
	}
	if len(list) == 0 {
		return "", fmt.Errorf("give at least one --entry")
	}
	out, err := json.Marshal(list)
	return string(out), err
}

// listenerACLColumn shows a listener's access control: "white acl-..." or
// "off".
func listenerACLColumn(m map[string]any) string {
	if str(m, "AclStatus") != "on" {
		return "off"
	}
	return str(m, "AclType") + " " + str(m, "AclId")
}

func (c *cli) slbACLCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Manage the access control lists of load balancer listeners",
		Long: `Manage access control lists (acl-...): IPv4 addresses and CIDR blocks, with
comments, that listeners admit or refuse (Server Load Balancer API
2014-05-15, "access control").

A listener uses one list, as a whitelist (only the sources of its entries
are forwarded) or a blacklist (they are refused): "slb listener add
--acl ID --acl-type white|black", or "slb listener set" on a listener. A
list without entries admits everyone, whitelist or blacklist. A list
holds at most 1,000 entries (at most 50 per add or remove) and serves at
most 50 listeners; it cannot be deleted while a listener uses it. A list
change applies to new connections; established ones go on.`,
		Example: `  palisade slb acl create --name office
  palisade slb acl add acl-xxx --entry 203.0.113.0/24,198.51.100.7 --comment office
  palisade slb listener set lb-xxx --port 80 --acl acl-xxx --acl-type white
  palisade slb acl show acl-xxx`,
	}

	var name string
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create an empty access control list and print its ID",
		Example: "  palisade slb acl create --name office",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionSLB, "CreateAccessControlList", map[string]string{"AclName": name, "AddressIPVersion": "ipv4"})
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "AclId")
		},
	}
	create.Flags().StringVar(&name, "name", "", "list name: 1-80 letters, digits, . - / _, unique among your lists (required)")
	_ = create.MarkFlagRequired("name")

	var listName string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List your access control lists",
		Example: "  palisade slb acl list\n  palisade slb acl list --name office -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listAll(cmd, apiclient.VersionSLB, "DescribeAccessControlLists", nonEmpty(map[string]string{"AclName": listName}),
				"Acls", "Acl")
			if err != nil {
				return err
			}
			delete(resp, "Count")
			return c.renderList(cmd, resp, items, []column{
				field("AclId", "AclId"), field("Name", "AclName"), field("IpVersion", "AddressIPVersion"), field("Created", "CreateTime"),
			})
		},
	}
	list.Flags().StringVar(&listName, "name", "", "only the lists whose name contains this")

	show := &cobra.Command{
		Use:     "show ACL_ID",
		Short:   "Show an access control list with its entries and the listeners that use it",
		Example: "  palisade slb acl show acl-xxx\n  palisade slb acl show acl-xxx -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionSLB, "DescribeAccessControlListAttribute", map[string]string{"AclId": args[0]})
			if err != nil {
				return err
			}
			return c.render(cmd, resp, func(w io.Writer) error {
				if err := kv(w, resp, "AclId", "AclName", "AddressIPVersion", "TotalAclEntry", "CreateTime"); err != nil {
					return err
				}
				fmt.Fprintln(w)
				h, r := rowsOf(objects(resp, "AclEntrys", "AclEntry"), []column{field("Entry", "AclEntryIP"), field("Comment", "AclEntryComment")})
				if err := table(w, h, r); err != nil {
					return err
				}
				fmt.Fprintln(w)
				h, r = rowsOf(objects(resp, "RelatedListeners", "RelatedListener"), []column{
					field("LoadBalancer", "LoadBalancerId"), field("Protocol", "Protocol"), field("Port", "ListenerPort"), field("Type", "AclType"),
				})
				return table(w, h, r)
			})
		},
	}

	var newName string
	rename := &cobra.Command{
		Use:     "rename ACL_ID",
		Short:   "Rename an access control list",
		Example: "  palisade slb acl rename acl-xxx --name office-2",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionSLB, "SetAccessControlListAttribute", map[string]string{"AclId": args[0], "AclName": newName})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	rename.Flags().StringVar(&newName, "name", "", "new name (required)")
	_ = rename.MarkFlagRequired("name")

	entries := func(use, short, action string, withComment bool) *cobra.Command {
		var list []string
		var comment string
		sub := &cobra.Command{
			Use:   use + " ACL_ID",
			Short: short,
			Example: "  palisade slb acl " + use + " acl-xxx --entry 10.0.0.0/24 --entry 192.0.2.7" +
				map[bool]string{true: " --comment office", false: ""}[withComment],
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				v, err := lbACLEntries(list, comment)
				if err != nil {
					return err
				}
				resp, err := c.call(cmd, apiclient.VersionSLB, action, map[string]string{"AclId": args[0], "AclEntrys": v})
				if err != nil {
					return err
				}
				return c.renderDone(cmd, resp)
			},
		}
		sub.Flags().StringSliceVar(&list, "entry", nil, "IPv4 address or CIDR block, repeatable or comma-separated, at most 50 (required)")
		_ = sub.MarkFlagRequired("entry")
		if withComment {
			sub.Flags().StringVar(&comment, "comment", "", "comment of each entry added (at most 100 characters)")
		}
		return sub
	}

	cmd.AddCommand(create, list, show, rename,
		c.byIDCommand("delete ACL_ID", "Delete an access control list that no listener uses",
			"  palisade slb acl delete acl-xxx", apiclient.VersionSLB, "DeleteAccessControlList", "AclId"),
		entries("add", "Add entries (an address is a /32; a block may not have host bits set)", "AddAccessControlListEntry", true),
		entries("remove", "Remove entries", "RemoveAccessControlListEntry", false))
	return cmd
}

package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/palisade-project/palisade/internal/apiclient"
)

// aclEntry is one entry of an entries file (YAML or JSON; JSON is YAML).
// Cidr is the source of an ingress entry and the destination of an egress
// entry.
type aclEntry struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Policy      string `yaml:"policy"`
	Protocol    string `yaml:"protocol"`
	Port        string `yaml:"port"`
	Cidr        string `yaml:"cidr"`
}

// aclEntriesFile is the document `acl entries set --file` reads.
type aclEntriesFile struct {
	Ingress *[]aclEntry `yaml:"ingress"`
	Egress  *[]aclEntry `yaml:"egress"`
}

// parseACLEntryFlag parses "policy,protocol,port,cidr[,name]", e.g.
// "accept,tcp,80/80,0.0.0.0/0,web".
func parseACLEntryFlag(v string) (aclEntry, error) {
	f := strings.Split(v, ",")
	if len(f) < 4 || len(f) > 5 {
		return aclEntry{}, fmt.Errorf("entry %q: want policy,protocol,port,cidr[,name] such as accept,tcp,80/80,0.0.0.0/0,web", v)
	}
	e := aclEntry{Policy: f[0], Protocol: f[1], Port: f[2], Cidr: f[3]}
	if len(f) == 5 {
		e.Name = f[4]
	}
	return e, nil
}

func aclEntryParams(p map[string]string, list, cidrField string, entries []aclEntry) {
	for i, e := range entries {
		k := list + "." + strconv.Itoa(i+1) + "."
		set := func(name, v string) {
			if v != "" {
				p[k+name] = v
			}
		}
		set("NetworkAclEntryName", e.Name)
		set("Description", e.Description)
		set("Policy", e.Policy)
		set("Protocol", e.Protocol)
		port := e.Port
		if port == "" && e.Protocol != "tcp" && e.Protocol != "udp" {
			port = "-1/-1"
		} else if port != "" && !strings.Contains(port, "/") {
			port = port + "/" + port
		}
		set("Port", port)
		set(cidrField, e.Cidr)
	}
}

func (c *cli) aclCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Manage network ACLs (stateless vSwitch filters)",
		Long: `Create, list, show and delete network ACLs, replace their entries and
associate them with vSwitches (VPC API 2016-04-28).

A network ACL filters the traffic that enters or leaves its vSwitches (from
other vSwitches and from the internet through EIPs), statelessly: a reply
needs an entry of its own (for example egress 1024-65535 for the clients'
ephemeral ports). Entries are evaluated in list order, the first match
decides, and no match denies; a new ACL has no entries, so once associated it
denies all traffic in and out of its vSwitches, EIP traffic included, until
entries are added. Traffic inside
one vSwitch, DNS (100.100.2.128/28, 100.100.2.112/28), metadata
(100.100.100.200) and DHCP are never filtered.`,
		Example: `  palisade acl create --vpc vpc-xxx --name edge
  palisade acl entries set nacl-xxx --file entries.yaml
  palisade acl entries set nacl-xxx --ingress accept,tcp,80/80,0.0.0.0/0,web --egress accept,tcp,1024/65535,0.0.0.0/0
  palisade acl associate nacl-xxx vsw-xxx
  palisade acl show nacl-xxx`,
	}
	var vpcID, name, desc string
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create a network ACL and print its ID",
		Example: "  palisade acl create --vpc vpc-xxx --name edge",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionVPC, "CreateNetworkAcl",
				nonEmpty(map[string]string{"VpcId": vpcID, "NetworkAclName": name, "Description": desc}))
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "NetworkAclId")
		},
	}
	create.Flags().StringVar(&vpcID, "vpc", "", "VPC ID (required)")
	create.Flags().StringVar(&name, "name", "", "ACL name")
	create.Flags().StringVar(&desc, "description", "", "description")
	_ = create.MarkFlagRequired("vpc")

	var listVPC string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List network ACLs",
		Example: "  palisade acl list --vpc vpc-xxx",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listAll(cmd, apiclient.VersionVPC, "DescribeNetworkAcls",
				nonEmpty(map[string]string{"VpcId": listVPC}), "NetworkAcls", "NetworkAcl")
			if err != nil {
				return err
			}
			for _, it := range items {
				it["IngressCount"] = strconv.Itoa(len(objects(it, "IngressAclEntries", "IngressAclEntry")))
				it["EgressCount"] = strconv.Itoa(len(objects(it, "EgressAclEntries", "EgressAclEntry")))
				var vsws []string
				for _, r := range objects(it, "Resources", "Resource") {
					vsws = append(vsws, str(r, "ResourceId"))
				}
				it["VSwitches"] = strings.Join(vsws, ",")
			}
			return c.renderList(cmd, resp, items, []column{
				field("NetworkAclId", "NetworkAclId"), field("Name", "NetworkAclName"), field("VpcId", "VpcId"),
				field("Ingress", "IngressCount"), field("Egress", "EgressCount"), field("VSwitches", "VSwitches"),
				field("Created", "CreationTime"),
			})
		},
	}
	list.Flags().StringVar(&listVPC, "vpc", "", "only ACLs of this VPC")

	show := &cobra.Command{
		Use:     "show ACL_ID",
		Short:   "Show a network ACL with its entries in priority order",
		Example: "  palisade acl show nacl-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionVPC, "DescribeNetworkAclAttributes", map[string]string{"NetworkAclId": args[0]})
			if err != nil {
				return err
			}
			return c.render(cmd, resp, func(w io.Writer) error {
				a, _ := get(resp, "NetworkAclAttribute").(map[string]any)
				if err := kv(w, a, "NetworkAclId", "NetworkAclName", "Description", "VpcId", "Status"); err != nil {
					return err
				}
				var rows [][]string
				for i, e := range objects(a, "IngressAclEntries", "IngressAclEntry") {
					rows = append(rows, []string{"ingress", strconv.Itoa(i + 1), str(e, "Policy"), str(e, "Protocol"), str(e, "Port"), str(e, "SourceCidrIp"), str(e, "NetworkAclEntryName"), str(e, "NetworkAclEntryId")})
				}
				for i, e := range objects(a, "EgressAclEntries", "EgressAclEntry") {
					rows = append(rows, []string{"egress", strconv.Itoa(i + 1), str(e, "Policy"), str(e, "Protocol"), str(e, "Port"), str(e, "DestinationCidrIp"), str(e, "NetworkAclEntryName"), str(e, "NetworkAclEntryId")})
				}
				fmt.Fprintln(w)
				if err := table(w, []string{"Direction", "Order", "Policy", "Protocol", "Port", "Cidr", "Name", "EntryId"}, rows); err != nil {
					return err
				}
				var vsws []string
				for _, r := range objects(a, "Resources", "Resource") {
					vsws = append(vsws, str(r, "ResourceId"))
				}
				_, err := fmt.Fprintf(w, "\nVSwitches: %s\n", strings.Join(vsws, ", "))
				return err
			})
		},
	}

	var file string
	var ingress, egress []string
	var clearIngress, clearEgress bool
	set := &cobra.Command{
		Use:   "set ACL_ID",
		Short: "Replace the entries of one or both directions",
		Long: `Replace the whole entry list of a direction (UpdateNetworkAclEntries); the
order given is the priority. Entries come from --file (YAML or JSON with
"ingress" and/or "egress" lists of {name, description, policy, protocol,
port, cidr}) or from repeated --ingress/--egress flags of the form
policy,protocol,port,cidr[,name]. A direction not given is left as it is;
--clear-ingress/--clear-egress empty one.`,
		Example: `  palisade acl entries set nacl-xxx --file entries.yaml
  palisade acl entries set nacl-xxx --ingress drop,tcp,22,10.0.2.0/24 --ingress accept,all,-1/-1,10.0.0.0/16
  # entries.yaml:
  # ingress:
  #   - {name: web, policy: accept, protocol: tcp, port: 80/80, cidr: 0.0.0.0/0}
  # egress:
  #   - {name: replies, policy: accept, protocol: tcp, port: 1024/65535, cidr: 0.0.0.0/0}`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var doc aclEntriesFile
			if file != "" {
				if len(ingress) > 0 || len(egress) > 0 {
					return errors.New("give entries either with --file or with --ingress/--egress, not both")
				}
				var b []byte
				var err error
				if file == "-" {
					b, err = io.ReadAll(c.env.Stdin)
				} else {
					b, err = os.ReadFile(file)
				}
				if err != nil {
					return fmt.Errorf("read entries: %w", err)
				}
				if err := yaml.Unmarshal(b, &doc); err != nil {
					return fmt.Errorf("parse %s (YAML or JSON with ingress/egress lists): %w", file, err)
				}
			}
			for _, flag := range []struct {
				vals []string
				dst  **[]aclEntry
			}{{ingress, &doc.Ingress}, {egress, &doc.Egress}} {
				if len(flag.vals) == 0 {
					continue
				}
				var es []aclEntry
				for _, v := range flag.vals {
					e, err := parseACLEntryFlag(v)
					if err != nil {
						return err
					}
					es = append(es, e)
				}
				*flag.dst = &es
			}
			if clearIngress {
				doc.Ingress = &[]aclEntry{}
			}
			if clearEgress {
				doc.Egress = &[]aclEntry{}
			}
			if doc.Ingress == nil && doc.Egress == nil {
				return errors.New("no entries given: use --file, --ingress/--egress or --clear-ingress/--clear-egress")
			}
			p := map[string]string{"NetworkAclId": args[0]}
			if doc.Ingress != nil {
				p["UpdateIngressAclEntries"] = "true"
				aclEntryParams(p, "IngressAclEntries", "SourceCidrIp", *doc.Ingress)
			}
			if doc.Egress != nil {
				p["UpdateEgressAclEntries"] = "true"
				aclEntryParams(p, "EgressAclEntries", "DestinationCidrIp", *doc.Egress)
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "UpdateNetworkAclEntries", p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	set.Flags().StringVarP(&file, "file", "f", "", "YAML or JSON file with ingress/egress entry lists (- for stdin)")
	set.Flags().StringArrayVar(&ingress, "ingress", nil, "ingress entry policy,protocol,port,source-cidr[,name] (repeatable, in priority order)")
	set.Flags().StringArrayVar(&egress, "egress", nil, "egress entry policy,protocol,port,destination-cidr[,name] (repeatable, in priority order)")
	set.Flags().BoolVar(&clearIngress, "clear-ingress", false, "remove every ingress entry")
	set.Flags().BoolVar(&clearEgress, "clear-egress", false, "remove every egress entry")
	entries := &cobra.Command{Use: "entries", Short: "Replace the entries of a network ACL"}
	entries.AddCommand(set)

	assoc := func(use, action, short string) *cobra.Command {
		return &cobra.Command{
			Use:     use + " ACL_ID VSWITCH_ID...",
			Short:   short,
			Example: "  palisade acl " + use + " nacl-xxx vsw-aaa vsw-bbb",
			Args:    cobra.MinimumNArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				p := map[string]string{"NetworkAclId": args[0]}
				for i, id := range args[1:] {
					n := strconv.Itoa(i + 1)
					p["Resource."+n+".ResourceId"], p["Resource."+n+".ResourceType"] = id, "VSwitch"
				}
				resp, err := c.call(cmd, apiclient.VersionVPC, action, p)
				if err != nil {
					return err
				}
				return c.renderDone(cmd, resp)
			},
		}
	}
	del := &cobra.Command{
		Use:     "delete ACL_ID",
		Short:   "Delete a network ACL (unassociate its vSwitches first)",
		Example: "  palisade acl delete nacl-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionVPC, "DeleteNetworkAcl", map[string]string{"NetworkAclId": args[0]})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	cmd.AddCommand(create, list, show, entries,
		assoc("associate", "AssociateNetworkAcl", "Associate vSwitches with a network ACL"),
		assoc("unassociate", "UnassociateNetworkAcl", "Unassociate vSwitches from a network ACL"),
		del)
	return cmd
}

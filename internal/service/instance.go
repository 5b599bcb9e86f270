package service

import (
	"context"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

func errInstanceNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidInstanceId.NotFound", "The specified InstanceId %q does not exist.", id)
}

// getInstance reads an instance of the account.
func getInstance(tx store.ReadTxn, accountID, id string) (*model.Instance, error) {
	return getOwned(tx, model.PrefixInstance, "InstanceId", accountID, id, func(v *model.Instance) string { return v.AccountID }, errInstanceNotFound)
}

// instanceENIs returns the ENIs attached to an instance, by device index.
func instanceENIs(tx store.ReadTxn, instanceID string) ([]*model.ENI, error) {
	var out []*model.ENI
	err := listJSON(tx, model.PrefixENI, func(e *model.ENI) error {
		if e.InstanceID == instanceID {
			out = append(out, e)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b *model.ENI) int { return a.DeviceIndex - b.DeviceIndex })
	return out, err
}

// validateInstanceName checks an InstanceName as the cloud does: 2-128
// characters, starting with a letter (Chinese characters are letters),
// then letters, digits, '.', '_', ':' and '-'. Empty means not given (the
// name defaults to the instance ID).
func validateInstanceName(name string) error {
	if name == "" {
		return nil
	}
	if why := nameProblem(name, false); why != "" {
		return errs.InvalidParam("InvalidInstanceName.Malformed",
			"The specified InstanceName %q is not valid: %s. Use 2-128 characters: letters (Chinese characters too), digits, '.', '_', ':' and '-', starting with a letter.", name, why)
	}
	return nil
}

// RunInstancesInput is the request of RunInstances. ENIs[0] configures the
// primary ENI (its VSwitchID defaults to VSwitchID, its groups to
// SecurityGroupIDs); further entries are secondary ENIs made and attached
// with each instance.
type RunInstancesInput struct {
	ImageID, InstanceType       string
	ZoneID                      string
	Name, HostName, Description string
	Amount                      int
	VSwitchID                   string
	SecurityGroupIDs            []string
	PrivateIP                   string
	IPv6Count                   int
	ENIs                        []ENISpec
	Tags                        []model.Tag
	ClientToken                 string
	DryRun                      bool
}

// RunInstances creates Amount instances, each with its primary ENI, in one
// transaction: either all are created or none. Without an agent serving the
// zone an instance is Running at once; otherwise it is Pending until the
// agent has put it in the kernel.
func (s *Service) RunInstances(ctx context.Context, accountID string, in RunInstancesInput) ([]string, error) {
	if in.ImageID == "" {
		return nil, errs.MissingParameter("ImageId")
	}
	if in.InstanceType == "" {
		return nil, errs.MissingParameter("InstanceType")
	}
	if in.Amount == 0 {
		in.Amount = 1
	}
	if in.Amount < 1 || in.Amount > s.cfg.Quotas.InstancesPerRunCall {
		return nil, errs.InvalidParameter("Amount", "must be from 1 to %d, got %d", s.cfg.Quotas.InstancesPerRunCall, in.Amount)
	}
	primary := ENISpec{}
	if len(in.ENIs) > 0 {
		primary = in.ENIs[0]
	}
	if primary.VSwitchID == "" {
		primary.VSwitchID = in.VSwitchID
	} else if in.VSwitchID != "" && in.VSwitchID != primary.VSwitchID {
		return nil, errs.InvalidParameter("NetworkInterface.1.VSwitchId", "differs from VSwitchId %s; give one of them", in.VSwitchID)
	}
	if primary.VSwitchID == "" {
		return nil, errs.MissingParameter("VSwitchId")
	}
	if len(primary.SecurityGroupIDs) == 0 {
		primary.SecurityGroupIDs = in.SecurityGroupIDs
	}
	if primary.PrimaryIP == "" {
		primary.PrimaryIP, primary.PrimaryIPParam = in.PrivateIP, "PrivateIpAddress"
	}
	if primary.IPv6Count == 0 {
		primary.IPv6Count = in.IPv6Count
	}
	if in.Amount > 1 && (primary.PrimaryIP != "" || len(primary.IPv6s) > 0) {
		return nil, errs.InvalidParameter("PrivateIpAddress", "a fixed private IP can only be given when Amount is 1")
	}
	if err := validateInstanceName(in.Name); err != nil {
		return nil, err
	}
	if err := validateName("InvalidHostName.Malformed", "HostName", in.HostName); err != nil {
		return nil, err
	}
	if err := validateDescription(in.Description); err != nil {
		return nil, err
	}
	var ids []string
	_, err := s.update(ctx, func(tx store.Txn) error {
		ids = nil
		_, err := withClientToken(tx, accountID, "RunInstances", in.ClientToken, in, &ids, func() error {
			vsw, err := getVSwitch(tx, accountID, primary.VSwitchID)
			if err != nil {
				return err
			}
			if in.ZoneID != "" && in.ZoneID != vsw.ZoneID {
				return errs.InvalidParam("InvalidVSwitchId.ZoneMismatch",
					"vSwitch %s is in zone %s, not in the requested ZoneId %s.", vsw.ID, vsw.ZoneID, in.ZoneID)
			}
			if len(in.ENIs) > s.cfg.Quotas.ENIsPerInstance {
				return errs.Quota("QuotaExceed.NetworkInterface",
					"An instance may have at most %d network interfaces; %d were requested.", s.cfg.Quotas.ENIsPerInstance, len(in.ENIs))
			}
			if err := s.checkInstanceQuota(tx, accountID, in.Amount); err != nil {
				return err
			}
			status := model.InstanceRunning
			if s.zoneServed(tx, vsw.ZoneID) {
				status = model.InstancePending
			}
			for range in.Amount {
				inst := model.Instance{
					ID: NewID("i"), AccountID: accountID, Name: in.Name, HostName: in.HostName,
					Description: in.Description, ImageID: in.ImageID, InstanceType: in.InstanceType,
					ZoneID: vsw.ZoneID, VpcID: vsw.VpcID, VSwitchID: vsw.ID, Status: status,
					Tags: in.Tags, CreatedAt: s.stamp(),
				}
				if inst.HostName == "" {
					inst.HostName = "iZ" + strings.TrimPrefix(inst.ID, "i-") + "Z"
				}
				if inst.Name == "" {
					inst.Name = inst.ID
				}
				e, err := s.newENI(tx, accountID, primary, model.ENITypePrimary, inst.ID, 0)
				if err != nil {
					return err
				}
				if status == model.InstancePending {
					e.Status = model.ENIAttaching
					if err := putJSON(tx, model.PrefixENI+e.ID, e); err != nil {
						return err
					}
				}
				inst.PrimaryENIID = e.ID
				for i, spec := range in.ENIs[min(1, len(in.ENIs)):] {
					if len(spec.SecurityGroupIDs) == 0 {
						spec.SecurityGroupIDs = e.SecurityGroupIDs
					}
					sec, err := s.newENI(tx, accountID, spec, model.ENITypeSecondary, inst.ID, i+1)
					if err != nil {
						return err
					}
					if sec.VpcID != inst.VpcID || sec.ZoneID != inst.ZoneID {
						return errs.InvalidParam("InvalidVSwitchId.Mismatch",
							"NetworkInterface.%d.VSwitchId %s must be in the VPC and zone of the primary vSwitch %s.", i+2, spec.VSwitchID, vsw.ID)
					}
					if status == model.InstancePending {
						sec.Status = model.ENIAttaching
						if err := putJSON(tx, model.PrefixENI+sec.ID, sec); err != nil {
							return err
						}
					}
				}
				if err := putJSON(tx, model.PrefixInstance+inst.ID, &inst); err != nil {
					return err
				}
				ids = append(ids, inst.ID)
			}
			if in.DryRun {
				return errDryRun
			}
			return nil
		})
		return err
	})
	return ids, err
}

// InstanceView is an instance with its ENIs (primary first).
type InstanceView struct {
	model.Instance
	ENIs []model.ENI
}

// InstanceFilter selects instances in DescribeInstances.
type InstanceFilter struct {
	IDs                                       []string
	VpcID, VSwitchID, ZoneID, SecurityGroupID string
	Status, Name, ImageID, InstanceType       string
	PrivateIPs                                []string
	Tags                                      []model.Tag
}

func (f InstanceFilter) match(v *InstanceView) bool {
	if (len(f.IDs) > 0 && !slices.Contains(f.IDs, v.ID)) ||
		(f.VpcID != "" && v.VpcID != f.VpcID) ||
		(f.VSwitchID != "" && v.VSwitchID != f.VSwitchID) ||
		(f.ZoneID != "" && v.ZoneID != f.ZoneID) ||
		(f.Status != "" && v.Status != f.Status) ||
		(f.Name != "" && v.Name != f.Name) ||
		(f.ImageID != "" && v.ImageID != f.ImageID) ||
		(f.InstanceType != "" && v.InstanceType != f.InstanceType) ||
		!hasTags(v.Tags, f.Tags) {
		return false
	}
	if f.SecurityGroupID != "" && (len(v.ENIs) == 0 || !slices.Contains(v.ENIs[0].SecurityGroupIDs, f.SecurityGroupID)) {
		return false
	}
	if len(f.PrivateIPs) > 0 {
		found := false
		for _, e := range v.ENIs {
			for _, a := range e.Addrs() {
				found = found || slices.Contains(f.PrivateIPs, a.String())
			}
		}
		return found
	}
	return true
}

func instanceView(tx store.ReadTxn, inst *model.Instance) (InstanceView, error) {
	enis, err := instanceENIs(tx, inst.ID)
	v := InstanceView{Instance: *inst}
	for _, e := range enis {
		v.ENIs = append(v.ENIs, *e)
	}
	return v, err
}

// DescribeInstances lists the account's instances, oldest first.
func (s *Service) DescribeInstances(ctx context.Context, accountID string, f InstanceFilter) ([]InstanceView, error) {
	var out []InstanceView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		var insts []*model.Instance
		if err := listJSON(tx, model.PrefixInstance, func(i *model.Instance) error {
			if i.AccountID == accountID {
				insts = append(insts, i)
			}
			return nil
		}); err != nil {
			return err
		}
		// One pass over the ENIs instead of one per instance.
		byInst := map[string][]model.ENI{}
		if err := listJSON(tx, model.PrefixENI, func(e *model.ENI) error {
			if e.AccountID == accountID && e.InstanceID != "" {
				byInst[e.InstanceID] = append(byInst[e.InstanceID], *e)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, i := range insts {
			v := InstanceView{Instance: *i, ENIs: byInst[i.ID]}
			slices.SortFunc(v.ENIs, func(a, b model.ENI) int { return a.DeviceIndex - b.DeviceIndex })
			if f.match(&v) {
				out = append(out, v)
			}
		}
		return nil
	})
	sortByCreation(out, func(v InstanceView) (int64, string) { return v.CreatedAt.UnixNano(), v.ID })
	return out, err
}

// DescribeInstance returns one instance.
func (s *Service) DescribeInstance(ctx context.Context, accountID, id string) (InstanceView, error) {
	var out InstanceView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		inst, err := getInstance(tx, accountID, id)
		if err != nil {
			return err
		}
		out, err = instanceView(tx, inst)
		return err
	})
	return out, err
}

// DeleteInstance deletes a Stopped instance (any state with force): its
// primary ENI and addresses go with it, and its WAF protected objects with
// their rules; secondary ENIs are detached and kept, as in the cloud.
// With dryRun, everything is checked and nothing changes (errDryRun).
func (s *Service) DeleteInstance(ctx context.Context, accountID, id string, force, dryRun bool) error {
	return s.DeleteInstances(ctx, accountID, []string{id}, force, dryRun)
}

// DeleteInstances deletes several instances at once (all or none).
func (s *Service) DeleteInstances(ctx context.Context, accountID string, ids []string, force, dryRun bool) error {
	if len(ids) == 0 {
		return errs.MissingParameter("InstanceId")
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		for _, id := range ids {
			inst, err := getInstance(tx, accountID, id)
			if err != nil {
				return err
			}
			if !force && inst.Status != model.InstanceStopped {
				return errs.Forbidden("IncorrectInstanceStatus",
					"The current status of the resource does not support this operation: instance %s is %s; stop it first or pass Force=true.", id, inst.Status)
			}
			// An instance that backs a PrivateLink service stays (see
			// privatelink.go).
			if err := refuseServiceInstance(tx, id); err != nil {
				return err
			}
			enis, err := instanceENIs(tx, id)
			if err != nil {
				return err
			}
			for _, e := range enis {
				if e.Type == model.ENITypePrimary {
					if err := s.deleteENI(tx, e); err != nil {
						return err
					}
					continue
				}
				e.InstanceID, e.DeviceIndex, e.Status = "", 0, model.ENIAvailable
				if err := putJSON(tx, model.PrefixENI+e.ID, e); err != nil {
					return err
				}
			}
			// Its WAF objects go with it as its primary ENI's flow logs do
			// (deleteENI): in this transaction, so all or nothing.
			if err := deleteInstanceWAF(tx, accountID, id); err != nil {
				return err
			}
			// It leaves the load balancers it backs, as in the cloud
			// (see slb.go).
			if err := removeInstanceBackends(tx, id); err != nil {
				return err
			}
			if err := tx.Delete(model.PrefixInstance + id); err != nil {
				return err
			}
		}
		if dryRun {
			return errDryRun // every check passed; the transaction is dropped
		}
		return nil
	})
	return err
}

// StopInstance and StartInstance move an instance between Running and
// Stopped. A stopped instance keeps its addresses and its namespace, but
// runs nothing and passes nothing: the agent kills every process in its
// namespace and leaves its interfaces out of the security-group program.
// As in the cloud, StopInstance needs a Running instance (Pending too: here
// that only means the agent has not put it in place yet) and StartInstance
// a Stopped one; any other state is IncorrectInstanceStatus (403), also
// with dryRun, which checks the state first and then changes nothing
// (errDryRun).
func (s *Service) StopInstance(ctx context.Context, accountID, id string, dryRun bool) error {
	return s.setInstanceState(ctx, accountID, id, "StopInstance", model.InstanceStopped,
		[]string{model.InstanceRunning, model.InstancePending}, dryRun)
}

// StartInstance starts a stopped instance: it is Running at once without an
// agent serving its zone, else Pending until the agent has it in place.
func (s *Service) StartInstance(ctx context.Context, accountID, id string, dryRun bool) error {
	return s.setInstanceState(ctx, accountID, id, "StartInstance", "", []string{model.InstanceStopped}, dryRun)
}

func (s *Service) setInstanceState(ctx context.Context, accountID, id, action, to string, from []string, dryRun bool) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		inst, err := getInstance(tx, accountID, id)
		if err != nil {
			return err
		}
		if !slices.Contains(from, inst.Status) {
			return errs.Forbidden("IncorrectInstanceStatus",
				"The current status of the resource does not support this operation: instance %s is %s, and %s needs it %s.",
				id, inst.Status, action, strings.Join(from, " or "))
		}
		if dryRun {
			return errDryRun
		}
		if to == "" { // start
			to = model.InstanceRunning
			if s.zoneServed(tx, inst.ZoneID) {
				to = model.InstancePending
			}
		}
		inst.Status = to
		return putJSON(tx, model.PrefixInstance+inst.ID, inst)
	})
	return err
}

// SetInstanceStatus records the status the agent observed: it moves an
// instance between Pending and Running only (never out of Stopped).
func (s *Service) SetInstanceStatus(ctx context.Context, instanceID, status string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		var inst model.Instance
		ok, err := getJSON(tx, model.PrefixInstance+instanceID, &inst)
		if err != nil || !ok || inst.Status == status {
			return err
		}
		if inst.Status != model.InstancePending && inst.Status != model.InstanceRunning {
			return nil
		}
		inst.Status = status
		return putJSON(tx, model.PrefixInstance+inst.ID, &inst)
	})
	return err
}

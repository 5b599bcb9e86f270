package app_test

import (
	"context"
	"testing"

	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// TestLocalLBHealthReporter: the local agent's reporter stores the health
// of any zone's load balancer as the admin (no zone restriction).
func TestLocalLBHealthReporter(t *testing.T) {
	a, err := app.New(app.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	svc := a.Service()
	acct, _ := a.Admin()
	vpc, err := svc.CreateVpc(ctx, acct.ID, service.CreateVpcInput{CidrBlock: "10.9.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	vsw, err := svc.CreateVSwitch(ctx, acct.ID, service.CreateVSwitchInput{VpcID: vpc.VpcID, ZoneID: svc.DefaultZone(), CidrBlock: "10.9.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	lb, err := svc.CreateLoadBalancer(ctx, acct.ID, service.CreateLoadBalancerInput{VSwitchID: vsw})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.CreateListener(ctx, acct.ID, lb.ID, service.ListenerSpec{Protocol: "tcp", Port: 80, BackendPort: new(int)}); err == nil {
		t.Fatal("backend port 0 accepted")
	}
	var r interface {
		ReportLBHealth(context.Context, []model.LBHealth) error
	} = a.DDoSReporter()
	if err := r.ReportLBHealth(ctx, []model.LBHealth{{LoadBalancerID: lb.ID}}); err != nil {
		t.Fatal(err)
	}
	if h, ok, err := svc.LBHealthRecord(ctx, lb.ID); err != nil || !ok || h.UpdatedAt.IsZero() {
		t.Errorf("stored %+v %v %v", h, ok, err)
	}
	if err := r.ReportLBHealth(ctx, []model.LBHealth{{LoadBalancerID: lb.ID, Listeners: []model.LBListenerHealth{{Protocol: "tcp", Port: 0}}}}); err == nil {
		t.Error("a malformed report was stored")
	}
}

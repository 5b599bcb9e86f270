package kernel_test

import (
	"context"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/probe"
)

// TestStopStartInstance: a stopped instance passes nothing (its namespace
// and address stay); started again it goes Pending, then Running, and its
// traffic flows again.
func TestStopStartInstance(t *testing.T) {
	requireKernel(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(t)))
	w := newWorld(t, env)
	v := w.mustVPC("10.9.0.0/16")
	sw := w.mustVSwitch(v, "10.9.1.0/24")
	w.mustGroup("grp", v, "normal", "Accept")
	w.run("ia", sw, "10.9.1.5", "grp")
	w.run("ib", sw, "10.9.1.6", "grp")
	w.waitRunning()
	w.settle()
	ping := func() error { return probe.ICMP(context.Background(), w.ids["ia"], w.addr["ib"], time.Second) }
	if err := ping(); err != nil {
		t.Fatalf("a -> b before stop: %v", err)
	}

	stop := ecs.CreateStopInstanceRequest()
	stop.InstanceId = w.ids["ib"]
	if _, err := w.ecs.StopInstance(stop); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if st := describeStatus(t, w.ecs, w.ids["ib"]); st != "Stopped" {
		t.Errorf("after StopInstance: %s", st)
	}
	if err := ping(); err == nil {
		t.Error("a stopped instance still answers ping")
	}

	start := ecs.CreateStartInstanceRequest()
	start.InstanceId = w.ids["ib"]
	if _, err := w.ecs.StartInstance(start); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, w.ecs, w.ids["ib"], "Running")
	w.settle()
	if err := ping(); err != nil {
		t.Errorf("a -> b after start: %v", err)
	}
}

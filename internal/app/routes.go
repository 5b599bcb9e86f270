package app

import (
	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/service"
)

// registerAll registers every API family on rt.
func registerAll(rt *api.Router, svc *service.Service) {
	api.RegisterPalisade(rt, svc)
	api.RegisterSecurityGroups(rt, svc)
	api.RegisterRegions(rt, svc)
	api.RegisterVPC(rt, svc)
	api.RegisterInstances(rt, svc)
	api.RegisterNetworkACLs(rt, svc)
	api.RegisterAnalysis(rt, svc)
	api.RegisterWAF(rt, svc)
	api.RegisterEIPs(rt, svc)
	api.RegisterFlowLogs(rt, svc)
	api.RegisterTrafficMirror(rt, svc)
	api.RegisterPrivateLink(rt, svc)
	api.RegisterSLB(rt, svc)
	api.RegisterCloudfw(rt, svc)
	api.RegisterVpcPeer(rt, svc)
	api.RegisterRoutes(rt, svc)
	api.RegisterNAT(rt, svc)
	api.RegisterVpcFirewall(rt, svc)
	api.RegisterNatFirewall(rt, svc)
	api.RegisterAntiDDoS(rt, svc)
	api.RegisterAgentAPI(rt, svc)
}

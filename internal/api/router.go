package api

import (
	"context"
	"slices"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
)

// API versions by product.
const (
	VersionECS         = "2014-05-26"
	VersionVPC         = "2016-04-28"
	VersionPrivateLink = "2020-04-15" // product Privatelink (PrivateLink)
	VersionCloudfw     = "2017-12-07" // product Cloudfw (Cloud Firewall)
	VersionAntiDDoS    = "2017-05-18" // product antiddos-public (Anti-DDoS Basic)
	VersionVpcPeer     = "2022-01-01" // product VpcPeer (VPC peering)
	VersionSLB         = "2014-05-15" // product Slb (Server Load Balancer, classic: CLB)
	VersionPalisade    = "2026-11-01" // Palisade's own actions (accounts, analysis, ...)
)

// Request is one authenticated API call.
type Request struct {
	RequestID string
	Account   model.Account // the caller's account
	// AgentZone is the zone of the signing key when it is an agent key
	// (model.AccessKey.AgentZone): the request is an agent action.
	AgentZone string
	Version   string
	Action    string
	RegionID  string // RegionId parameter (may be empty)
	Params    Params
}

// Handler serves one action. It returns the response body (a struct or map
// whose JSON field names are exactly those of the SDK's response struct; the
// RequestId field is added by the server) or an error (coded errors from
// package errs are sent as they are, others as InternalError).
type Handler func(ctx context.Context, r *Request) (any, error)

type routeKey struct{ version, action string }

// Router maps (Version, Action) to handlers.
type Router struct {
	routes map[routeKey]Handler
	// agent marks the actions an agent key may sign.
	agent map[routeKey]bool
}

// NewRouter returns an empty router.
func NewRouter() *Router {
	return &Router{routes: map[routeKey]Handler{}, agent: map[routeKey]bool{}}
}

// HandleAgent registers h like Handle, as an agent action: one that agent
// keys may sign (all other actions refuse them). Its handler checks what
// the key's zone (Request.AgentZone) allows.
func (rt *Router) HandleAgent(version, action string, h Handler) {
	rt.Handle(version, action, h)
	rt.agent[routeKey{version, action}] = true
}

// IsAgentAction reports whether (version, action) is an agent action.
func (rt *Router) IsAgentAction(version, action string) bool {
	return rt.agent[routeKey{version, action}]
}

// AgentActions lists the agent actions' names, sorted.
func (rt *Router) AgentActions() []string {
	out := make([]string, 0, len(rt.agent))
	for k := range rt.agent {
		out = append(out, k.action)
	}
	slices.Sort(out)
	return out
}

// Handle registers h for (version, action), an action without a dry run:
// a request that asks for one (DryRun=true) is refused before h runs. The
// cloud ignores parameters an action does not have, but a caller who asks
// for a dry run of, say, AuthorizeSecurityGroup expects nothing to happen,
// and it would happen. Registering twice panics: it is a programming error.
func (rt *Router) Handle(version, action string, h Handler) {
	rt.HandleDryRun(version, action, func(ctx context.Context, r *Request) (any, error) {
		if dry, err := r.Params.Bool("DryRun", false); err != nil || dry {
			return nil, errs.InvalidParameter("DryRun", "%s has no dry run: nothing was done; send the request without DryRun=true to run it", action)
		}
		return h(ctx, r)
	})
}

// HandleDryRun registers h for (version, action), an action that honours
// DryRun=true itself (checks everything, changes nothing, answers
// DryRunOperation).
func (rt *Router) HandleDryRun(version, action string, h Handler) {
	k := routeKey{version, action}
	if _, dup := rt.routes[k]; dup {
		panic("api: duplicate route " + version + " " + action)
	}
	rt.routes[k] = h
}

// Lookup returns the handler for (version, action).
func (rt *Router) Lookup(version, action string) (Handler, bool) {
	h, ok := rt.routes[routeKey{version, action}]
	return h, ok
}

// Actions lists the registered (version, action) pairs.
func (rt *Router) Actions() [][2]string {
	out := make([][2]string, 0, len(rt.routes))
	for k := range rt.routes {
		out = append(out, [2]string{k.version, k.action})
	}
	return out
}

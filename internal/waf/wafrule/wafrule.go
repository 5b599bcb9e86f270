// Package wafrule holds the WAF's rule types and the custom-rule condition
// language: plain data, a strict parser and compiled matchers.
//
// It imports only the standard library, so the service layer can validate
// rules without linking the rule engine (package waf, which links Coraza).
package wafrule

import (
	"fmt"
	"strings"
)

// Action is what a module does with a request it matches. Actions are
// ordered: the strongest matching action of all modules wins
// (Block > Monitor > Pass).
type Action uint8

const (
	// Pass: nothing matched (or only a whitelist); the request goes on.
	Pass Action = iota
	// Monitor: the match is logged and the request goes on.
	Monitor
	// Block: the request is answered with the block response.
	Block
)

func (a Action) String() string {
	switch a {
	case Pass:
		return "pass"
	case Monitor:
		return "monitor"
	case Block:
		return "block"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// ParseAction parses a configured action: "block" or "monitor" (any case).
// Empty and unknown values are errors: a rule must say what it does.
func ParseAction(s string) (Action, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "block":
		return Block, nil
	case "monitor":
		return Monitor, nil
	}
	return Pass, fmt.Errorf("action %q: want block or monitor", s)
}

// Module is a protection module. Modules run in the order of their values.
type Module uint8

const (
	ModuleWhitelist Module = iota + 1
	ModuleBlacklist
	ModuleCustom
	ModuleRateLimit
	ModuleCoreRules
)

// Modules lists the modules in evaluation order.
var Modules = []Module{ModuleWhitelist, ModuleBlacklist, ModuleCustom, ModuleRateLimit, ModuleCoreRules}

func (m Module) String() string {
	switch m {
	case ModuleWhitelist:
		return "whitelist"
	case ModuleBlacklist:
		return "blacklist"
	case ModuleCustom:
		return "custom"
	case ModuleRateLimit:
		return "ratelimit"
	case ModuleCoreRules:
		return "crs"
	case 0:
		return ""
	}
	return fmt.Sprintf("module(%d)", uint8(m))
}

// ParseModule parses a module name as String prints it.
func ParseModule(s string) (Module, error) {
	for _, m := range Modules {
		if strings.EqualFold(strings.TrimSpace(s), m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("module %q: want one of whitelist, blacklist, custom, ratelimit, crs", s)
}

// ModuleSet is a set of modules; the zero value is empty.
type ModuleSet uint8

// Has reports whether m is in the set.
func (s ModuleSet) Has(m Module) bool { return s&(1<<m) != 0 }

// With returns the set with m added.
func (s ModuleSet) With(m Module) ModuleSet { return s | 1<<m }

// AllBypassable is every module a whitelist can bypass (all but itself).
var AllBypassable = ModuleSet(0).With(ModuleBlacklist).With(ModuleCustom).With(ModuleRateLimit).With(ModuleCoreRules)

// MarshalText writes the action's name (JSON logs show "block").
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads pass, monitor or block.
func (a *Action) UnmarshalText(b []byte) error {
	if string(b) == "pass" {
		*a = Pass
		return nil
	}
	v, err := ParseAction(string(b))
	*a = v
	return err
}

// MarshalText writes the module's name (JSON logs show "crs").
func (m Module) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads a module name ("" is no module).
func (m *Module) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*m = 0
		return nil
	}
	v, err := ParseModule(string(b))
	*m = v
	return err
}

package waf

import (
	"net/netip"
	"os"
)

func readFile(p string) (string, error) { b, err := os.ReadFile(p); return string(b), err }

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

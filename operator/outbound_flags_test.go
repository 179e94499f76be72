package main

import (
	"fmt"
	"testing"
)

// TestOutboundFlagsAreTheAdminsToSet: by default the operator honours no
// resource's opt-out and allows nothing beyond the built-in rules; the
// flags widen or narrow that, and a typo is an error, not a silent default.
func TestOutboundFlagsAreTheAdminsToSet(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := o.outbound; len(p.Allow) != 0 || len(p.Deny) != 0 || p.HonourInsecureHTTP || p.HonourLinkLocal {
		t.Errorf("default outbound policy %+v, want the zero policy", p)
	}
	o, err = parseFlags([]string{"--outbound-allow-cidrs", "127.0.0.0/8, ::1", "--outbound-deny-cidrs", "10.244.0.0/16,10.96.0.0/12",
		"--outbound-tenant-opt-outs", "insecure-http,link-local"})
	if err != nil {
		t.Fatal(err)
	}
	p := o.outbound
	if fmt.Sprint(p.Allow) != "[127.0.0.0/8 ::1/128]" || fmt.Sprint(p.Deny) != "[10.244.0.0/16 10.96.0.0/12]" || !p.HonourInsecureHTTP || !p.HonourLinkLocal {
		t.Errorf("parsed outbound policy %+v", p)
	}
	for _, args := range [][]string{
		{"--outbound-allow-cidrs", "127.0.0.0/33"},
		{"--outbound-deny-cidrs", "pods"},
		{"--outbound-tenant-opt-outs", "insecure_http"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%v was accepted", args)
		}
	}
}

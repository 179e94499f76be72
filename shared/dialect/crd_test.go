package dialect

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// The CRD is generated from the API types, whose Preset enum and doc are
// generated from the preset table; the CEL rules are written by hand. These
// tests read the generated CRD, which is what the API server enforces and
// `kubectl explain` shows, and compare it with the table.

type crdSpec struct {
	Properties map[string]struct {
		Description string   `json:"description"`
		Enum        []string `json:"enum"`
	} `json:"properties"`
	Validations []struct {
		Rule    string `json:"rule"`
		Message string `json:"message"`
	} `json:"x-kubernetes-validations"`
}

func apiClientCRDSpec(t *testing.T) crdSpec {
	t.Helper()
	raw, err := os.ReadFile("../../config/crd/bases/keyport.dev_apiclients.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties struct {
							Spec crdSpec `json:"spec"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	if len(crd.Spec.Versions) != 1 {
		t.Fatalf("the ApiClient CRD has %d versions, want 1", len(crd.Spec.Versions))
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties.Spec
}

const regenerate = "run `make manifests generate`"

func TestCRDPresetEnumAndDocFollowTheTable(t *testing.T) {
	preset := apiClientCRDSpec(t).Properties["preset"]
	if !slices.Equal(preset.Enum, Names()) {
		t.Errorf("the CRD's preset enum is %v, the table's %v: %s", preset.Enum, Names(), regenerate)
	}
	// What `kubectl explain apiclient.spec.preset` prints: each preset's
	// meaning, however the generator wrapped it.
	doc := strings.Join(strings.Fields(preset.Description), " ")
	for _, p := range Presets {
		if summary := p.Summary(nil); !strings.Contains(doc, summary) {
			t.Errorf("the CRD's preset doc lacks %q: %s", summary, regenerate)
		}
	}
}

func TestCRDEnumsAreKnownToTheDialect(t *testing.T) {
	props := apiClientCRDSpec(t).Properties
	for field, spec := range map[string]func(v string) keyportv1.ApiClientSpec{
		"method": func(v string) keyportv1.ApiClientSpec {
			return keyportv1.ApiClientSpec{Method: keyportv1.HTTPMethod(v)}
		},
		"bodyEncoding": func(v string) keyportv1.ApiClientSpec {
			return keyportv1.ApiClientSpec{BodyEncoding: keyportv1.BodyEncoding(v)}
		},
		"grantType": func(v string) keyportv1.ApiClientSpec {
			return keyportv1.ApiClientSpec{GrantType: keyportv1.GrantType(v)}
		},
		"clientAuthentication": func(v string) keyportv1.ApiClientSpec {
			return keyportv1.ApiClientSpec{ClientAuthentication: keyportv1.ClientAuthentication(v)}
		},
		"preset": func(v string) keyportv1.ApiClientSpec { return keyportv1.ApiClientSpec{Preset: keyportv1.Preset(v)} },
	} {
		values := props[field].Enum
		if len(values) == 0 {
			t.Errorf("the CRD has no enum for %s", field)
		}
		for _, v := range values {
			s := spec(v)
			if _, err := Resolve(&s); err != nil {
				t.Errorf("the CRD accepts %s %q, which the dialect refuses: %v", field, v, err)
			}
		}
	}
}

// TestCRDRulesFollowTheTable: the CEL rules that name presets or client
// authentications name those the table and the dialect say.
func TestCRDRulesFollowTheTable(t *testing.T) {
	rules := apiClientCRDSpec(t).Validations
	rule := func(contains string) string {
		for _, r := range rules {
			if strings.Contains(r.Rule, contains) {
				return r.Rule
			}
		}
		t.Fatalf("no CEL rule of the ApiClient spec contains %q", contains)
		return ""
	}
	var certPresets, certAuths, secretlessAuths []string
	for _, p := range Presets {
		if p.Dialect.MutualTLS {
			certPresets = append(certPresets, string(p.Name))
		}
	}
	for auth, a := range clientAuths {
		if a.certificate {
			certAuths = append(certAuths, string(auth))
		}
		if !a.secret {
			secretlessAuths = append(secretlessAuths, string(auth))
		}
	}
	certificate := rule("has(self.clientCertificate)")
	compare(t, "presets that need a certificate", inList(t, certificate, "self.preset"), certPresets)
	compare(t, "client authentications that need a certificate", inList(t, certificate, "self.clientAuthentication"), certAuths)
	credentials := rule("has(self.credentials) ||")
	compare(t, "client authentications that need no secret", inList(t, credentials, "self.clientAuthentication"), secretlessAuths)

	// A rule that holds one preset to its token lifetime names the one the
	// table gives it.
	lifetimeRule := regexp.MustCompile(`self\.preset != '(\w+)' \|\| .*< duration\('(\w+)'\)`)
	for _, r := range rules {
		m := lifetimeRule.FindStringSubmatch(r.Rule)
		if m == nil {
			continue
		}
		p, ok := Lookup(keyportv1.Preset(m[1]))
		d, err := time.ParseDuration(m[2])
		if !ok || err != nil || d != p.Dialect.DefaultLifetime {
			t.Errorf("rule %q holds preset %s to a lifetime of %s; the table says %v", r.Rule, m[1], m[2], p.Dialect.DefaultLifetime)
		}
	}
}

// inList finds "<field> in ['a', 'b']" in a CEL rule and returns a, b.
func inList(t *testing.T, rule, field string) []string {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(field) + `\s+in\s+\[([^\]]*)\]`).FindStringSubmatch(rule)
	if m == nil {
		t.Fatalf("rule %q has no %q in [...]", rule, field)
	}
	var out []string
	for _, v := range strings.Split(m[1], ",") {
		out = append(out, strings.Trim(strings.TrimSpace(v), "'"))
	}
	return out
}

func compare(t *testing.T, what string, rule, table []string) {
	t.Helper()
	slices.Sort(rule)
	slices.Sort(table)
	if !slices.Equal(rule, table) {
		t.Errorf("the CRD's rule names %v as the %s; the dialect says %v: edit the rule in api/v1alpha1/apiclient_types.go, then %s",
			rule, what, table, regenerate)
	}
}

package provider

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// The mapping between each resource's model and its API type is the one
// place a field can get lost. These tests round-trip objects with every spec
// field set through model and back, and fail when a field of the API type
// is left unset in the fixtures: a field added to api/ without a mapping
// makes them fail.

func ptr[T any](v T) *T { return &v }

func dur(s string) *metav1.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return &metav1.Duration{Duration: d}
}

var meta = metav1.ObjectMeta{Name: "cpu-uat", Namespace: "integrations"}

var fullHeaders = []keyportv1.HTTPHeader{
	{Name: "X-Static", Value: ptr("static")},
	{Name: "Ocp-Apim-Subscription-Key", ValueFrom: &keyportv1.SecretKeySelector{Name: "cpu-credentials", Key: "subscription_key"}},
}

var fullPlatform = &keyportv1.PlatformReference{Driver: "generic-rest", ApiClientName: "bootstrap", ManagementURL: "https://platform.example.com/api",
	AllowInsecureHTTP: true, Parameters: map[string]string{"tenant": "acme", "region": "eu"}}

var fullApiClient = &keyportv1.ApiClient{ObjectMeta: meta, Spec: keyportv1.ApiClientSpec{
	TokenURL:             "https://login.example.com/connect/token",
	Environment:          "uat",
	Preset:               keyportv1.PresetPortCommunityPassword,
	Method:               keyportv1.MethodGET,
	BodyEncoding:         keyportv1.BodyNone,
	GrantType:            keyportv1.GrantNone,
	ClientAuthentication: keyportv1.ClientSecretBasicRaw,
	ClientID:             "cpu-app",
	Credentials: &keyportv1.CredentialsSource{SecretName: "cpu-credentials", ClientIDKey: "id", ClientSecretKey: "secret",
		UsernameKey: "user", PasswordKey: "pass"},
	ClientCertificate: &keyportv1.ClientCertificateReference{M2MCertificateName: "bank-m2m", SecretName: "bank-tls"},
	Scopes:            []string{"openid", "visits.read"},
	ExtraParameters:   map[string]string{"audience": "api://cpu", "resource": "visits"},
	Headers:           fullHeaders,
	TLS: &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "ca", Key: "ca.crt"},
		AllowInsecureHTTP: true, AllowLinkLocal: true},
	Assertion: &keyportv1.AssertionSettings{Audience: "https://login.example.com", Algorithm: "ES256", KeyIDFrom: keyportv1.KeyIDThumbprint,
		// keyID and keyIDFrom exclude each other in the CRD; the mapping carries both.
		KeyID: "key-1", SigningKey: &keyportv1.SecretKeySelector{Name: "jwt-key", Key: "key.pem"}},
	Refresh: &keyportv1.RefreshPolicy{Strategy: keyportv1.RefreshLatest, RefreshAtPercent: ptr(int32(60)), PropagationBudget: dur("2m"),
		RetryMargin: dur("45s"), DefaultLifetime: dur("1h30m")},
	Output:          &keyportv1.TokenOutput{SecretName: "cpu-token", Template: map[string]string{"bearer.txt": "{{ .Authorization }}"}},
	RevocationProbe: &keyportv1.RevocationProbe{URL: "https://api.example.com/v1/ping"},
	JWKS:            &keyportv1.JWKSSettings{URL: "https://softpos.example.com/jwks.json", ConfigMapName: "softpos-keys", RefreshInterval: dur("10m")},
	Suspend:         true,
}}

var fullM2MCertificate = &keyportv1.M2MCertificate{ObjectMeta: meta, Spec: keyportv1.M2MCertificateSpec{
	CertManager: &keyportv1.CertManagerSource{
		IssuerRef:     keyportv1.IssuerReference{Name: "internal-ca", Kind: "ClusterIssuer", Group: "cert-manager.io"},
		CommonName:    "client.example.com",
		Organizations: []string{"Example Logistics"},
		DNSNames:      []string{"client.example.com"},
		URIs:          []string{"spiffe://example.com/client"},
		PrivateKey:    &keyportv1.PrivateKeySettings{Algorithm: "ECDSA", Size: ptr(int32(256))},
		Duration:      dur("2160h"),
		RenewBefore:   dur("360h"),
	},
	PKCS12: &keyportv1.PKCS12Source{SecretName: "bank-bundle", BundleKey: "m2m.p12",
		Passphrase: keyportv1.SecretKeySelector{Name: "bank-bundle", Key: "passphrase"}},
	SecretRef:        &keyportv1.TLSSecretSource{Name: "softpos-tls"},
	OutputSecretName: "bank-m2m-tls",
	ExpiryWarning:    dur("720h"),
	Registration:     fullPlatform,
}}

var fullIngestionChannel = &keyportv1.IngestionChannel{ObjectMeta: meta, Spec: keyportv1.IngestionChannelSpec{
	ApiClientName:     "datasharing-uat",
	Customer:          "acme-logistics",
	BaseURL:           "https://ingestion-uat.example.com",
	ChannelID:         "7f3e2a10-acme",
	URL:               "https://ingestion-uat.example.com/custom/7f3e",
	MessageType:       "ContainerEvent",
	MediaType:         "application/xml; charset=utf-8",
	Environment:       "uat",
	AllowInsecureHTTP: true,
	Platform:          fullPlatform,
	OutputSecretName:  "acme-channel",
}}

var fullNotificationChannel = &keyportv1.NotificationChannel{ObjectMeta: meta, Spec: keyportv1.NotificationChannelSpec{
	Platform:          *fullPlatform,
	ChannelName:       "visit-updates",
	ChannelType:       "HTTPSWebhook",
	WebhookURL:        "https://hooks.example.com/cpu/visits",
	Method:            "POST",
	AllowInsecureHTTP: true,
	EventTypes:        []string{"VisitCreated", "VisitUpdated"},
	Headers:           fullHeaders,
	Authentication: keyportv1.WebhookAuthentication{
		Type:        keyportv1.WebhookAuthOAuth2Password,
		BearerToken: &keyportv1.SecretKeySelector{Name: "hook", Key: "token"},
		OAuth2: &keyportv1.WebhookOAuth2{
			TokenURL:     "https://auth.example.com/oauth2/token",
			ClientID:     "cpu-platform",
			ClientSecret: &keyportv1.SecretKeySelector{Name: "hook", Key: "client_secret"},
			Username:     "platform",
			Password:     &keyportv1.SecretKeySelector{Name: "hook", Key: "password"},
			Scopes:       []string{"notifications.write"},
			Headers:      fullHeaders,
		},
		GeneratedSecretName: "cpu-webhook-client",
	},
	DeletionPolicy: keyportv1.DeletionPolicyRetain,
}}

// roundTripCase is one object through one kind's mapping.
type roundTripCase struct {
	name string
	// full says the fixture must set every spec field.
	full bool
	run  func(t *testing.T) (in, out client.Object, modelsEqual bool)
}

// roundTrip reads in's spec into a model, builds the object to apply from
// the model, and reads that back into a second model.
func roundTrip[M any, P modelPtr[M], O client.Object](k *kind[M, P, O], in O) (O, bool) {
	var first, second M
	p1, p2 := P(&first), P(&second)
	for _, p := range []P{p1, p2} {
		p.base().Name = types.StringValue(in.GetName())
		p.base().Namespace = types.StringValue(in.GetNamespace())
	}
	k.fromSpec(in, p1)
	out := k.toObject(p1)
	k.fromSpec(out, p2)
	return out, reflect.DeepEqual(first, second)
}

func caseFor[M any, P modelPtr[M], O client.Object](name string, full bool, k *kind[M, P, O], in O) roundTripCase {
	return roundTripCase{name: name, full: full, run: func(t *testing.T) (client.Object, client.Object, bool) {
		out, equal := roundTrip(k, in)
		return in, out, equal
	}}
}

func TestMapping_RoundTripsEveryField(t *testing.T) {
	minimal := metav1.ObjectMeta{Name: "min", Namespace: "ns"}
	tests := []roundTripCase{
		caseFor("an ApiClient with every field set", true, apiClientKind, fullApiClient),
		caseFor("an ApiClient with only the required fields", false, apiClientKind,
			&keyportv1.ApiClient{ObjectMeta: minimal, Spec: keyportv1.ApiClientSpec{TokenURL: "https://login.example.com/token"}}),
		caseFor("an M2MCertificate with every field set", true, m2mCertificateKind, fullM2MCertificate),
		caseFor("an M2MCertificate from an existing Secret", false, m2mCertificateKind,
			&keyportv1.M2MCertificate{ObjectMeta: minimal, Spec: keyportv1.M2MCertificateSpec{SecretRef: &keyportv1.TLSSecretSource{Name: "tls"}}}),
		caseFor("an IngestionChannel with every field set", true, ingestionChannelKind, fullIngestionChannel),
		caseFor("an IngestionChannel with only the required fields", false, ingestionChannelKind,
			&keyportv1.IngestionChannel{ObjectMeta: minimal, Spec: keyportv1.IngestionChannelSpec{ApiClientName: "a", Customer: "c", URL: "https://x.example.com/i", MessageType: "m"}}),
		caseFor("a NotificationChannel with every field set", true, notificationChannelKind, fullNotificationChannel),
		caseFor("a NotificationChannel with only the required fields", false, notificationChannelKind,
			&keyportv1.NotificationChannel{ObjectMeta: minimal, Spec: keyportv1.NotificationChannelSpec{
				Platform:    keyportv1.PlatformReference{Driver: "generic-rest", ApiClientName: "a", ManagementURL: "https://p.example.com"},
				ChannelName: "c", WebhookURL: "https://hooks.example.com", Authentication: keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthNone}}}),
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, out, modelsEqual := tc.run(t)
			inSpec, outSpec := specOf(in), specOf(out)
			if tc.full {
				if unset := unsetFields(reflect.ValueOf(inSpec), "spec"); len(unset) > 0 {
					t.Fatalf("the fixture leaves spec fields unset, so their mapping is untested: %v", unset)
				}
			}
			if !equality.Semantic.DeepEqual(inSpec, outSpec) {
				t.Errorf("spec changed on its way through the model (-in +out):\n%s", cmp.Diff(inSpec, outSpec))
			}
			if in.GetName() != out.GetName() || in.GetNamespace() != out.GetNamespace() {
				t.Errorf("metadata changed: %s/%s became %s/%s", in.GetNamespace(), in.GetName(), out.GetNamespace(), out.GetName())
			}
			if !modelsEqual {
				t.Errorf("model -> %T -> model does not give the same model", in)
			}
		})
	}
}

func specOf(obj client.Object) any {
	return reflect.ValueOf(obj).Elem().FieldByName("Spec").Interface()
}

// unsetFields lists the zero-valued fields under v, following pointers,
// structs, the first element of slices and the values of maps. The
// namespace fields of Secret references exist only to be refused.
func unsetFields(v reflect.Value, at string) []string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []string{at}
		}
		return unsetFields(v.Elem(), at)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(metav1.Duration{}) {
			return nil
		}
		var out []string
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Name == "Namespace" {
				continue
			}
			out = append(out, unsetFields(v.Field(i), at+"."+f.Name)...)
		}
		return out
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			return []string{at}
		}
		if v.Kind() == reflect.Slice {
			var out []string
			for i := 0; i < v.Len(); i++ {
				out = append(out, unsetFields(v.Index(i), at+"[]")...)
			}
			// A list of headers needs only one of value and valueFrom per item.
			return dedupeHeaderAlternatives(out, v.Len())
		}
		return nil
	}
	if v.IsZero() {
		return []string{at}
	}
	return nil
}

// dedupeHeaderAlternatives keeps a path unset only when every item of the
// list left it unset.
func dedupeHeaderAlternatives(paths []string, items int) []string {
	count := map[string]int{}
	for _, p := range paths {
		count[p]++
	}
	var out []string
	for p, n := range count {
		if n == items {
			out = append(out, p)
		}
	}
	return out
}

func TestMapping_OmittedFieldsAreNull(t *testing.T) {
	var m apiClientModel
	apiClientFromSpec(&keyportv1.ApiClient{Spec: keyportv1.ApiClientSpec{TokenURL: "https://x.example.com"}}, &m)
	for name, v := range map[string]interface{ IsNull() bool }{
		"environment": m.Environment, "preset": m.Preset, "client_id": m.ClientID, "scopes": m.Scopes,
		"extra_parameters": m.ExtraParameters, "output_secret_name": m.OutputSecretName, "output_template": m.OutputTemplate,
	} {
		if !v.IsNull() {
			t.Errorf("%s should be null when the spec omits it, so that reading back matches a configuration that omits it", name)
		}
	}
	if m.Credentials != nil || m.TLS != nil || m.Refresh != nil || m.Headers != nil {
		t.Error("omitted nested objects should be null")
	}
}

func TestMapping_StatusFillsTheComputedAttributes(t *testing.T) {
	expires := metav1.NewTime(time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC))
	t.Run("an ApiClient keeps a declared output Secret name and reports the token expiry", func(t *testing.T) {
		m := apiClientModel{OutputSecretName: types.StringValue("declared"), ClientCertificate: &clientCertificateModel{}}
		apiClientFromStatus(&keyportv1.ApiClient{Status: keyportv1.ApiClientStatus{OutputSecretName: "other", TokenExpiresAt: &expires,
			CertificateThumbprint: "ABC"}}, &m)
		if m.OutputSecretName.ValueString() != "declared" || m.TokenExpiresAt.ValueString() != "2026-11-23T06:00:00Z" || m.CertificateThumbprint.ValueString() != "ABC" {
			t.Errorf("got %v %v %v", m.OutputSecretName, m.TokenExpiresAt, m.CertificateThumbprint)
		}
	})
	t.Run("an ApiClient without a certificate has no thumbprint, even while the status still shows the removed one's", func(t *testing.T) {
		m := apiClientModel{}
		apiClientFromStatus(&keyportv1.ApiClient{Status: keyportv1.ApiClientStatus{CertificateThumbprint: "ABC"}}, &m)
		if !m.CertificateThumbprint.IsNull() {
			t.Errorf("certificate_thumbprint = %v, want null", m.CertificateThumbprint)
		}
	})
	t.Run("an unknown output Secret name becomes the operator's", func(t *testing.T) {
		m := m2mCertificateModel{OutputSecretName: types.StringUnknown()}
		m2mCertificateFromStatus(&keyportv1.M2MCertificate{Status: keyportv1.M2MCertificateStatus{OutputSecretName: "bank-tls",
			SHA1Thumbprint: "AB12", NotAfter: &expires}}, &m)
		if m.OutputSecretName.ValueString() != "bank-tls" || m.SHA1Thumbprint.ValueString() != "AB12" || m.NotAfter.ValueString() != "2026-11-23T06:00:00Z" {
			t.Errorf("got %v %v %v", m.OutputSecretName, m.SHA1Thumbprint, m.NotAfter)
		}
	})
	t.Run("no status yet gives nulls, never unknowns", func(t *testing.T) {
		m := ingestionChannelModel{OutputSecretName: types.StringUnknown(), ChannelURL: types.StringUnknown(), TokenExpiresAt: types.StringUnknown()}
		ingestionChannelFromStatus(&keyportv1.IngestionChannel{}, &m)
		if !m.OutputSecretName.IsNull() || !m.ChannelURL.IsNull() || !m.TokenExpiresAt.IsNull() {
			t.Errorf("got %v %v %v", m.OutputSecretName, m.ChannelURL, m.TokenExpiresAt)
		}
	})
}

func TestDuration_ReadsBackAsWritten(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"2m", "2m"}, {"120s", "2m"}, {"1h30m", "1h30m"}, {"720h", "720h"}, {"90s", "1m30s"}, {"1.5h", "1h30m"}, {"500ms", "500ms"},
	}
	for _, tc := range tests {
		t.Run(tc.in+" reads back as "+tc.want, func(t *testing.T) {
			got := fromDuration(toDuration(durationValue{StringValue: basetypes.NewStringValue(tc.in)}))
			if got.ValueString() != tc.want {
				t.Errorf("got %q", got.ValueString())
			}
			equal, _ := got.StringSemanticEquals(context.Background(), durationValue{StringValue: basetypes.NewStringValue(tc.in)})
			if !equal {
				t.Errorf("%q and %q should be the same duration to Terraform", got.ValueString(), tc.in)
			}
		})
	}
	t.Run("different durations differ", func(t *testing.T) {
		a := durationValue{StringValue: basetypes.NewStringValue("2m")}
		if equal, _ := a.StringSemanticEquals(context.Background(), durationValue{StringValue: basetypes.NewStringValue("3m")}); equal {
			t.Error("2m and 3m should differ")
		}
	})
}

func TestMapping_EventTypesAreASet(t *testing.T) {
	m := notificationChannelModel{}
	notificationChannelFromSpec(&keyportv1.NotificationChannel{Spec: keyportv1.NotificationChannelSpec{EventTypes: []string{"B", "A"}}}, &m)
	got := toNotificationChannel(&m).Spec.EventTypes
	if strings.Join(got, ",") != "A,B" {
		t.Errorf("event types should be applied in a stable order, got %v", got)
	}
}

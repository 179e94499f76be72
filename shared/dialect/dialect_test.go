package dialect

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

func TestResolve(t *testing.T) {
	cases := []struct {
		name string
		spec keyportv1.ApiClientSpec
		want Dialect
	}{
		{"no preset and no fields is a standard client-credentials client",
			keyportv1.ApiClientSpec{},
			Dialect{Method: "POST", BodyEncoding: "Form", GrantType: "ClientCredentials", ClientAuthentication: "ClientSecretPost",
				ClientIDKey: "client_id", ClientSecretKey: "client_secret", UsernameKey: "username", PasswordKey: "password"}},
		{"the port community preset is the password grant with openid and 1 h tokens",
			keyportv1.ApiClientSpec{Preset: keyportv1.PresetPortCommunityPassword},
			Dialect{Method: "POST", BodyEncoding: "Form", GrantType: "Password", ClientAuthentication: "ClientSecretPost",
				DefaultScopes: []string{"openid"}, DefaultLifetime: time.Hour,
				ClientIDKey: "client_id", ClientSecretKey: "client_secret", UsernameKey: "username", PasswordKey: "password"}},
		{"the bank preset is a GET with raw Basic from username and password",
			keyportv1.ApiClientSpec{Preset: keyportv1.PresetBankM2M},
			Dialect{Method: "GET", BodyEncoding: "None", GrantType: "None", ClientAuthentication: "ClientSecretBasicRaw",
				DefaultLifetime: 5 * time.Minute,
				ClientIDKey:     "username", ClientSecretKey: "password", UsernameKey: "username", PasswordKey: "password"}},
		{"declared key names and lifetime override the preset's",
			keyportv1.ApiClientSpec{Preset: keyportv1.PresetBankM2M,
				Credentials: &keyportv1.CredentialsSource{SecretName: "s", ClientIDKey: "user", ClientSecretKey: "pass"},
				Refresh:     &keyportv1.RefreshPolicy{DefaultLifetime: &metav1.Duration{Duration: 10 * time.Minute}}},
			Dialect{Method: "GET", BodyEncoding: "None", GrantType: "None", ClientAuthentication: "ClientSecretBasicRaw",
				DefaultLifetime: 10 * time.Minute,
				ClientIDKey:     "user", ClientSecretKey: "pass", UsernameKey: "username", PasswordKey: "password"}},
		{"explicit fields are used as given",
			keyportv1.ApiClientSpec{Method: "GET", BodyEncoding: "None", GrantType: "None", ClientAuthentication: "TLSClientAuth"},
			Dialect{Method: "GET", BodyEncoding: "None", GrantType: "None", ClientAuthentication: "TLSClientAuth",
				ClientIDKey: "client_id", ClientSecretKey: "client_secret", UsernameKey: "username", PasswordKey: "password"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Resolve(&tc.spec)
			if got.Method != tc.want.Method || got.BodyEncoding != tc.want.BodyEncoding || got.GrantType != tc.want.GrantType ||
				got.ClientAuthentication != tc.want.ClientAuthentication || got.DefaultLifetime != tc.want.DefaultLifetime ||
				got.ClientIDKey != tc.want.ClientIDKey || got.ClientSecretKey != tc.want.ClientSecretKey ||
				got.UsernameKey != tc.want.UsernameKey || got.PasswordKey != tc.want.PasswordKey ||
				len(got.Scopes(&tc.spec)) != len(tc.want.DefaultScopes) {
				t.Errorf("Resolve = %+v\nwant      %+v", got, tc.want)
			}
		})
	}
}

func TestPresetsNeedingCertificatesSaySo(t *testing.T) {
	for _, p := range []keyportv1.Preset{keyportv1.PresetBankM2M, keyportv1.PresetSoftPOS} {
		spec := keyportv1.ApiClientSpec{Preset: p}
		if !Resolve(&spec).NeedsClientCertificate(&spec) {
			t.Errorf("preset %s should need the client certificate", p)
		}
	}
	spec := keyportv1.ApiClientSpec{Preset: keyportv1.PresetPaymentJSON}
	if Resolve(&spec).NeedsClientCertificate(&spec) {
		t.Error("the JSON payment preset does not use mutual TLS")
	}
}

package dialect

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/token"
)

// literalRequest is a token request as it crosses the wire.
type literalRequest struct {
	method, path  string
	contentType   string
	authorization string
	// form or json is the body; neither means no body.
	form url.Values
	json map[string]string
}

// Credentials every preset's request is built with. The id and secret hold
// characters that HTTP Basic as RFC 6749 asks for would escape, so that the
// raw and the escaped form differ.
var creds = Credentials{ClientID: "app 1", ClientSecret: "s3c:r/et%", Username: "user", Password: "pw"}

// wantRequests are the requests the presets send, written out by hand so
// that they check the preset table rather than repeat it. A preset added to
// the table without its literal request here fails TestResolve.
var wantRequests = map[keyportv1.Preset]literalRequest{
	"PortCommunityPassword": {method: "POST", path: "/token", contentType: "application/x-www-form-urlencoded",
		form: url.Values{"grant_type": {"password"}, "client_id": {"app 1"}, "client_secret": {"s3c:r/et%"},
			"username": {"user"}, "password": {"pw"}, "scope": {"openid"}}},
	"OAuth2ClientCredentials": {method: "POST", path: "/token", contentType: "application/x-www-form-urlencoded",
		form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"app 1"}, "client_secret": {"s3c:r/et%"}}},
	"BankM2M": {method: "GET", path: "/token",
		authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("app 1:s3c:r/et%"))},
	"PaymentJSON": {method: "POST", path: "/token", contentType: "application/json",
		json: map[string]string{"grant_type": "client_credentials", "client_id": "app 1", "client_secret": "s3c:r/et%"}},
	"SoftPOS": {method: "POST", path: "/token", contentType: "application/x-www-form-urlencoded",
		form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"app 1"}, "client_secret": {"s3c:r/et%"}}},
}

// wantLifetimes are the lifetimes a token without expires_in gets, by
// preset; zero is none (such a token is refused).
var wantLifetimes = map[keyportv1.Preset]time.Duration{
	"PortCommunityPassword": time.Hour, "BankM2M": 5 * time.Minute, "PaymentJSON": time.Hour, "SoftPOS": time.Hour,
}

// TestResolve sends each preset's request to a real HTTP endpoint and
// compares what arrives with the literal request the preset stands for.
func TestResolve(t *testing.T) {
	for _, p := range Presets {
		t.Run(string(p.Name), func(t *testing.T) {
			want, ok := wantRequests[p.Name]
			if !ok {
				t.Fatalf("no literal request for preset %s in wantRequests", p.Name)
			}
			got, tok := send(t, keyportv1.ApiClientSpec{Preset: p.Name})
			if !reflect.DeepEqual(got, want) {
				t.Errorf("preset %s sent\n  %+v\nwant\n  %+v", p.Name, got, want)
			}
			var lifetime time.Duration
			if tok != nil {
				lifetime = time.Until(tok.ExpiresAt).Round(time.Minute)
			}
			if lifetime != wantLifetimes[p.Name] {
				t.Errorf("a token without expires_in lives %v, want %v", lifetime, wantLifetimes[p.Name])
			}
		})
	}
	for name := range wantRequests {
		if _, ok := Lookup(name); !ok {
			t.Errorf("wantRequests has %s, which the preset table does not", name)
		}
	}
}

// send builds the spec's request with creds, sends it to a loopback
// endpoint that answers with a token without expires_in, and returns what
// arrived and the token (nil when the dialect has no default lifetime).
func send(t *testing.T, spec keyportv1.ApiClientSpec) (literalRequest, *token.Token) {
	t.Helper()
	arrived := make(chan literalRequest, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := literalRequest{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"),
			authorization: r.Header.Get("Authorization")}
		body, _ := io.ReadAll(r.Body)
		switch {
		case len(body) == 0:
		case got.contentType == "application/json":
			if err := json.Unmarshal(body, &got.json); err != nil {
				t.Errorf("JSON body: %v", err)
			}
		default:
			got.form, _ = url.ParseQuery(string(body))
		}
		arrived <- got
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"opaque-token","token_type":"Bearer"}`)
	}))
	defer srv.Close()
	spec.TokenURL = srv.URL + "/token"
	d, err := Resolve(&spec)
	if err != nil {
		t.Fatal(err)
	}
	req, err := d.Request(&spec, creds)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := token.Fetch(context.Background(), srv.Client(), req)
	if err != nil && token.KindOf(err) != token.KindUnknownLifetime {
		t.Fatalf("fetch: %v", err)
	}
	return <-arrived, tok
}

func TestResolveExplicitFieldsAndOverrides(t *testing.T) {
	cases := []struct {
		name string
		spec keyportv1.ApiClientSpec
		want literalRequest
	}{
		{"no preset and no fields is a standard client-credentials client",
			keyportv1.ApiClientSpec{},
			wantRequests["OAuth2ClientCredentials"]},
		{"explicit fields are used as given",
			keyportv1.ApiClientSpec{Method: "GET", BodyEncoding: "None", GrantType: "None", ClientAuthentication: "ClientSecretBasic"},
			literalRequest{method: "GET", path: "/token", authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("app+1:s3c%3Ar%2Fet%25"))}},
		{"scopes of the spec replace the preset's",
			keyportv1.ApiClientSpec{Preset: "PortCommunityPassword", Scopes: []string{"api", "offline"}},
			literalRequest{method: "POST", path: "/token", contentType: "application/x-www-form-urlencoded",
				form: url.Values{"grant_type": {"password"}, "client_id": {"app 1"}, "client_secret": {"s3c:r/et%"},
					"username": {"user"}, "password": {"pw"}, "scope": {"api offline"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := send(t, tc.spec); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("sent\n  %+v\nwant\n  %+v", got, tc.want)
			}
		})
	}

	spec := keyportv1.ApiClientSpec{Preset: "BankM2M",
		Credentials: &keyportv1.CredentialsSource{SecretName: "s", ClientIDKey: "user", ClientSecretKey: "pass"},
		Refresh:     &keyportv1.RefreshPolicy{DefaultLifetime: &metav1.Duration{Duration: 10 * time.Minute}}}
	d, err := Resolve(&spec)
	if err != nil {
		t.Fatal(err)
	}
	if d.ClientIDKey != "user" || d.ClientSecretKey != "pass" || d.DefaultLifetime != 10*time.Minute {
		t.Errorf("declared key names and lifetime do not override the preset's: %+v", d)
	}
	if got := d.CredentialKeys(); !reflect.DeepEqual(got, []CredentialKey{{"user", KeyClientID}, {"pass", KeyClientSecret}}) {
		t.Errorf("CredentialKeys = %v", got)
	}
}

// TestUnknownValuesAreRefused: a preset or field value this version does
// not know is an error, never a request in some default dialect.
func TestUnknownValuesAreRefused(t *testing.T) {
	for _, spec := range []keyportv1.ApiClientSpec{
		{Preset: "FuturePlatform"},
		{Method: "PUT"},
		{BodyEncoding: "XML"},
		{GrantType: "DeviceCode"},
		{ClientAuthentication: "ClientSecretJWT"},
	} {
		if d, err := Resolve(&spec); err == nil {
			t.Errorf("Resolve(%+v) = %+v, want an error", spec, d)
		}
	}
	good := Presets[0].Dialect
	for _, edit := range []func(*Dialect){
		func(d *Dialect) { d.Method = "PUT" },
		func(d *Dialect) { d.BodyEncoding = "XML" },
		func(d *Dialect) { d.GrantType = "DeviceCode" },
		func(d *Dialect) { d.ClientAuthentication = "ClientSecretJWT" },
	} {
		d := good
		edit(&d)
		if _, err := d.Request(&keyportv1.ApiClientSpec{TokenURL: "https://login.example.com/token"}, creds); err == nil ||
			!strings.Contains(err.Error(), "is not one this version of Keyport knows") {
			t.Errorf("Request in %+v: err = %v, want a refusal", d, err)
		}
	}
}

// TestPresetTableIsComplete: every row sets what a request needs.
func TestPresetTableIsComplete(t *testing.T) {
	seen := map[keyportv1.Preset]bool{}
	for _, p := range Presets {
		if seen[p.Name] {
			t.Errorf("preset %s is in the table twice", p.Name)
		}
		seen[p.Name] = true
		d := p.Dialect
		if p.Platform == "" || d.ClientIDKey == "" || d.ClientSecretKey == "" || d.UsernameKey == "" || d.PasswordKey == "" {
			t.Errorf("preset %s lacks its platform or a key name: %+v", p.Name, p)
		}
		if _, err := d.shape(); err != nil {
			t.Errorf("preset %s: %v", p.Name, err)
		}
	}
}

func TestPresetsNeedingCertificatesSaySo(t *testing.T) {
	for _, p := range []keyportv1.Preset{keyportv1.PresetBankM2M, keyportv1.PresetSoftPOS} {
		spec := keyportv1.ApiClientSpec{Preset: p}
		if d, _ := Resolve(&spec); !d.NeedsClientCertificate(&spec) {
			t.Errorf("preset %s should need the client certificate", p)
		}
	}
	spec := keyportv1.ApiClientSpec{Preset: keyportv1.PresetPaymentJSON}
	if d, _ := Resolve(&spec); d.NeedsClientCertificate(&spec) {
		t.Error("the JSON payment preset does not use mutual TLS")
	}
}

package v1alpha1_test

// These tests send objects to a real kube-apiserver with Keyport's generated
// CRDs installed. Every rejection asserted here comes from the API server's
// OpenAPI and CEL validation, exactly what `kubectl apply` would print; no
// Go-side check is involved.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/keyport-dev/keyport/shared/safetemplate"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	testenv.Main(m, &env)
}

// object parses one YAML manifest.
func object(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatalf("test manifest is not valid YAML: %v\n%s", err, manifest)
	}
	return u
}

func create(t *testing.T, ns string, u *unstructured.Unstructured) error {
	t.Helper()
	u.SetNamespace(ns)
	return env.Client.Create(context.Background(), u)
}

func TestAPIServerAcceptsEverySample(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found in config/samples (err=%v)", err)
	}
	kinds := map[string]bool{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			ns := env.Namespace(t)
			docs := readManifests(t, file)
			if len(docs) == 0 {
				t.Fatalf("%s holds no objects", file)
			}
			for _, u := range docs {
				if err := create(t, ns, u); err != nil {
					t.Errorf("API server rejected %s %q from %s: %v", u.GetKind(), u.GetName(), filepath.Base(file), err)
				}
				kinds[u.GetKind()] = true
			}
		})
	}
	for _, kind := range []string{"ApiClient", "M2MCertificate", "IngestionChannel", "NotificationChannel"} {
		if !kinds[kind] {
			t.Errorf("no sample shows a %s", kind)
		}
	}
}

func readManifests(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		u := object(t, string(doc))
		if u.Object == nil {
			continue
		}
		out = append(out, u)
	}
}

// rejection is a manifest the API server must refuse, and a fragment of the
// message a user would read.
type rejection struct {
	name     string
	manifest string
	want     string
}

func TestAPIServerRejectsInvalidObjects(t *testing.T) {
	cases := []rejection{
		// ApiClient
		{
			name: "a plain http token URL without the opt-in",
			manifest: apiClient(`
  tokenURL: http://login.example.com/token
  credentials: {secretName: creds}`),
			want: "tokenURL must start with https://; plain http:// is allowed only with tls.allowInsecureHTTP: true",
		},
		{
			name: "a token URL that is not an absolute URL",
			manifest: apiClient(`
  tokenURL: login.example.com/token
  credentials: {secretName: creds}`),
			want: "tokenURL must be an absolute URL",
		},
		{
			name: "a preset combined with an explicit method",
			manifest: apiClient(`
  preset: PaymentJSON
  method: GET
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}`),
			want: "preset already fixes method, bodyEncoding, grantType and clientAuthentication",
		},
		{
			name: "an unknown preset",
			manifest: apiClient(`
  preset: MyBank
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}`),
			want: `Unsupported value: "MyBank"`,
		},
		{
			name: "a GET token request with a form body",
			manifest: apiClient(`
  method: GET
  bodyEncoding: Form
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}`),
			want: "a GET token request has no body: set bodyEncoding: None",
		},
		{
			name: "no body while the client secret would go in the body",
			manifest: apiClient(`
  method: GET
  bodyEncoding: None
  grantType: None
  clientAuthentication: ClientSecretPost
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}`),
			want: "bodyEncoding None carries no parameters",
		},
		{
			name: "a client secret method without credentials",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  clientID: my-app`),
			want: "credentials is required",
		},
		{
			name: "a password grant without credentials",
			manifest: apiClient(`
  grantType: Password
  clientAuthentication: None
  clientID: my-app
  tokenURL: https://login.example.com/token`),
			want: "credentials is required",
		},
		{
			name: "tls_client_auth without any client id",
			manifest: apiClient(`
  clientAuthentication: TLSClientAuth
  clientCertificate: {secretName: client-tls}
  tokenURL: https://login.example.com/token`),
			want: "set clientID, or credentials.secretName",
		},
		{
			name: "private_key_jwt without a client certificate",
			manifest: apiClient(`
  clientAuthentication: PrivateKeyJWT
  clientID: my-app
  tokenURL: https://login.example.com/token`),
			want: "set clientCertificate",
		},
		{
			name: "the BankM2M preset without a client certificate",
			manifest: apiClient(`
  preset: BankM2M
  tokenURL: https://bank.example.com/m2m/token
  credentials: {secretName: creds}`),
			want: "set clientCertificate",
		},
		{
			name: "a client certificate naming both an M2MCertificate and a Secret",
			manifest: apiClient(`
  clientAuthentication: TLSClientAuth
  clientID: my-app
  clientCertificate: {m2mCertificateName: cert, secretName: client-tls}
  tokenURL: https://login.example.com/token`),
			want: "set exactly one of clientCertificate.m2mCertificateName or clientCertificate.secretName",
		},
		{
			name: "assertion settings without private_key_jwt",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  assertion: {algorithm: RS256}`),
			want: "assertion settings apply only to clientAuthentication: PrivateKeyJWT",
		},
		{
			name: "an assertion with both keyID and keyIDFrom",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  clientAuthentication: PrivateKeyJWT
  clientID: my-app
  assertion: {keyID: key-1, keyIDFrom: Thumbprint, signingKey: {name: jwt-key, key: key.pem}}`),
			want: "set keyID or keyIDFrom, not both",
		},
		{
			name: "an assertion key from both a Secret and the client certificate",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  clientAuthentication: PrivateKeyJWT
  clientID: my-app
  clientCertificate: {m2mCertificateName: cert}
  assertion: {signingKey: {name: jwt-key, key: key.pem}}`),
			want: "the assertion's signing key comes from one place",
		},
		{
			name: "private_key_jwt with neither a certificate nor a signing key",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  clientAuthentication: PrivateKeyJWT
  clientID: my-app
  assertion: {keyID: key-1}`),
			want: "or for PrivateKeyJWT alone assertion.signingKey",
		},
		{
			name: "a JWKS fetched over plain http",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  jwks: {url: "http://platform.example.com/jwks.json"}`),
			want: "jwks.url must start with https://",
		},
		{
			name: "a JWKS refreshed more than once a minute",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  jwks: {url: "https://platform.example.com/jwks.json", refreshInterval: 30s}`),
			want: "jwks.refreshInterval must be at least 1m",
		},
		{
			name: "a keyIDFrom the operator does not know",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  clientAuthentication: PrivateKeyJWT
  clientID: my-app
  assertion: {keyIDFrom: SHA1, signingKey: {name: jwt-key, key: key.pem}}`),
			want: `supported values: "Thumbprint"`,
		},
		{
			name: "a signing key Secret in another namespace",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  clientAuthentication: PrivateKeyJWT
  clientID: my-app
  assertion: {signingKey: {name: jwt-key, key: key.pem, namespace: other}}`),
			want: "Secret references are same-namespace only",
		},
		{
			name: "a header name with a space",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  headers:
    - {name: "Subscription Key", value: abc}`),
			want: "header name must be an HTTP token",
		},
		{
			name: "a header with both an inline value and a Secret value",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  headers:
    - name: Ocp-Apim-Subscription-Key
      value: abc
      valueFrom: {name: creds, key: subscription_key}`),
			want: "set exactly one of value (inline) or valueFrom (a Secret key)",
		},
		{
			name: "an Authorization header on an ApiClient",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  headers:
    - {name: authorization, value: "Bearer abc"}`),
			want: "headers must not set Authorization, Host or Content-Length",
		},
		{
			name: "a header value read from another namespace",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  headers:
    - name: Ocp-Apim-Subscription-Key
      valueFrom: {name: creds, key: subscription_key, namespace: kube-system}`),
			want: "Secret references are same-namespace only",
		},
		{
			name: "credentials read from another namespace",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds, namespace: other-team}`),
			want: "Secret references are same-namespace only",
		},
		{
			name: "a propagation budget longer than the declared token lifetime",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  refresh: {propagationBudget: 10m, defaultLifetime: 5m}`),
			want: "propagationBudget 10m must be shorter than defaultLifetime 5m",
		},
		{
			name: "a propagation budget that a 5-minute BankM2M token cannot meet",
			manifest: apiClient(`
  preset: BankM2M
  tokenURL: https://bank.example.com/m2m/token
  credentials: {secretName: creds}
  clientCertificate: {m2mCertificateName: bank}
  refresh: {propagationBudget: 5m}`),
			want: "preset BankM2M issues 5-minute tokens: refresh.propagationBudget must be shorter than 5m",
		},
		{
			name: "a refresh percentage above 90",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  refresh: {refreshAtPercent: 95}`),
			want: "spec.refresh.refreshAtPercent: Invalid value: 95",
		},
		{
			name: "a propagation budget that is not a duration",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  refresh: {propagationBudget: two minutes}`),
			want: "propagationBudget must be a duration between 0s and 1h",
		},
		{
			name: "a refresh percentage with strategy Latest, which does not use one",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  refresh: {strategy: Latest, refreshAtPercent: 80}`),
			want: "refreshAtPercent applies only to strategy Fraction: remove refreshAtPercent, or set strategy to Fraction",
		},
		{
			name: "a retry margin with the default strategy Fraction, which does not use one",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  refresh: {retryMargin: 1m}`),
			want: "retryMargin applies only to strategy Latest: remove retryMargin, or set strategy to Latest",
		},
		{
			name: "a retry margin with strategy Fraction spelled out",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  refresh: {strategy: Fraction, retryMargin: 1m}`),
			want: "retryMargin applies only to strategy Latest",
		},
		{
			name: "strategy Latest whose default budget and margin use up the declared token lifetime",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  refresh: {strategy: Latest, defaultLifetime: 3m}`),
			want: "with strategy Latest, propagationBudget plus retryMargin (defaults 2m and 1m) must be shorter than defaultLifetime",
		},
		{
			name: "strategy Latest whose budget and margin exceed the declared token lifetime",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  refresh: {strategy: Latest, propagationBudget: 3m, retryMargin: 2m, defaultLifetime: 5m}`),
			want: "with strategy Latest, propagationBudget plus retryMargin",
		},
		{
			name: "an unknown refresh strategy",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  refresh: {strategy: Earliest}`),
			want: `spec.refresh.strategy: Unsupported value: "Earliest"`,
		},
		{
			name: "a retry margin that is not a duration",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  refresh: {strategy: Latest, retryMargin: a minute}`),
			want: "retryMargin must be a duration between 0s and 1h",
		},
		{
			name: "a client secret smuggled into extra parameters",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  extraParameters: {client_secret: hunter2}`),
			want: "extraParameters must not set client_id, client_secret",
		},
		{
			name: "an output template that redefines access_token",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  output:
    template: {access_token: "{{ .AccessToken }}"}`),
			want: "template must not redefine access_token",
		},
		{
			name: "an output template longer than a template may be",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  output:
    template: {k: "` + strings.Repeat("x", safetemplate.MaxTextLength+1) + `"}`),
			want: "each template must be at most 8192 characters",
		},

		// M2MCertificate
		{
			name: "a certificate without a source",
			manifest: m2mCertificate(`
  expiryWarning: 720h`),
			want: "set exactly one certificate source: certManager, pkcs12 or secretRef",
		},
		{
			name: "a certificate with two sources",
			manifest: m2mCertificate(`
  secretRef: {name: existing-tls}
  pkcs12:
    secretName: bundle
    passphrase: {name: bundle, key: passphrase}`),
			want: "set exactly one certificate source",
		},
		{
			name: "a PKCS#12 passphrase read from another namespace",
			manifest: m2mCertificate(`
  pkcs12:
    secretName: bundle
    passphrase: {name: bundle, key: passphrase, namespace: default}`),
			want: "Secret references are same-namespace only",
		},
		{
			name: "a cert-manager renewBefore longer than the duration",
			manifest: m2mCertificate(`
  certManager:
    issuerRef: {name: ca}
    commonName: client.example.com
    duration: 24h
    renewBefore: 48h`),
			want: "renewBefore must be shorter than duration",
		},
		{
			name: "a cert-manager duration below cert-manager's minimum",
			manifest: m2mCertificate(`
  certManager:
    issuerRef: {name: ca}
    commonName: client.example.com
    duration: 30m`),
			want: "duration must be at least 1h",
		},
		{
			name: "an RSA key of 256 bits",
			manifest: m2mCertificate(`
  certManager:
    issuerRef: {name: ca}
    commonName: client.example.com
    privateKey: {algorithm: RSA, size: 256}`),
			want: "size must be 2048, 3072 or 4096 for RSA",
		},
		{
			name: "a cert-manager certificate without an identity",
			manifest: m2mCertificate(`
  certManager:
    issuerRef: {name: ca}`),
			want: "set commonName, dnsNames or uris",
		},

		// IngestionChannel
		{
			name: "a channel with both a full URL and a base URL",
			manifest: ingestionChannel(`
  url: https://ingest.example.com/ingestion/abc
  baseURL: https://ingest.example.com
  channelID: abc`),
			want: "set either url (the full channel URL) or baseURL together with channelID",
		},
		{
			name: "a base URL without a channel id",
			manifest: ingestionChannel(`
  baseURL: https://ingest.example.com`),
			want: "baseURL and channelID go together",
		},
		{
			name: "a plain http channel URL without the opt-in",
			manifest: ingestionChannel(`
  baseURL: http://ingest.example.com
  channelID: abc`),
			want: "the channel URL must start with https://",
		},
		{
			name: "a media type without a subtype",
			manifest: ingestionChannel(`
  url: https://ingest.example.com/ingestion/abc
  mediaType: json`),
			want: "mediaType must be a media type such as application/json",
		},

		// NotificationChannel
		{
			name: "a plain http webhook without the opt-in",
			manifest: notificationChannel(`
  webhookURL: http://hooks.example.com/n
  authentication: {type: None}`),
			want: "webhookURL must start with https://",
		},
		{
			name: "OAuth2 authentication without its settings",
			manifest: notificationChannel(`
  webhookURL: https://hooks.example.com/n
  authentication: {type: OAuth2ClientCredentials}`),
			want: "oauth2 is required for the OAuth2 authentication types",
		},
		{
			name: "a static bearer with neither a Secret nor generation",
			manifest: notificationChannel(`
  webhookURL: https://hooks.example.com/n
  authentication: {type: StaticBearer}`),
			want: "StaticBearer needs exactly one of bearerToken",
		},
		{
			name: "an Authorization header beside OAuth2 authentication",
			manifest: notificationChannel(`
  webhookURL: https://hooks.example.com/n
  headers:
    - {name: Authorization, value: "Bearer abc"}
  authentication:
    type: OAuth2ClientCredentials
    oauth2: {tokenURL: "https://auth.example.com/token", clientID: platform}
    generatedSecretName: webhook-client`),
			want: "an Authorization header is allowed only with authentication.type None",
		},
		{
			name: "a webhook method other than POST",
			manifest: notificationChannel(`
  webhookURL: https://hooks.example.com/n
  method: PUT
  authentication: {type: None}`),
			want: `Unsupported value: "PUT"`,
		},
		{
			name: "the password flow without a user",
			manifest: notificationChannel(`
  webhookURL: https://hooks.example.com/n
  authentication:
    type: OAuth2Password
    oauth2: {tokenURL: "https://auth.example.com/token", clientID: platform}
    generatedSecretName: webhook-client`),
			want: "OAuth2Password needs oauth2.username and oauth2.password",
		},
		{
			name: "a receiver token endpoint over plain http",
			manifest: notificationChannel(`
  webhookURL: https://hooks.example.com/n
  authentication:
    type: OAuth2ClientCredentials
    oauth2: {tokenURL: "http://auth.example.com/token", clientID: platform}
    generatedSecretName: webhook-client`),
			want: "oauth2.tokenURL must start with https://",
		},
		{
			name: "an unknown deletion policy",
			manifest: notificationChannel(`
  webhookURL: https://hooks.example.com/n
  authentication: {type: None}
  deletionPolicy: Orphan`),
			want: `Unsupported value: "Orphan"`,
		},
		{
			name: "a driver parameter longer than a template may be",
			manifest: notificationChannelAt(restPlatform(strings.Repeat("x", safetemplate.MaxTextLength+1)), `
  webhookURL: https://hooks.example.com/n
  authentication: {type: None}`),
			want: "each parameter must be at most 8192 characters",
		},
	}

	ns := env.Namespace(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := create(t, ns, object(t, tc.manifest))
			if err == nil {
				t.Fatalf("API server accepted an invalid object; want a rejection saying %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("rejection does not say what to fix:\n got: %v\nwant: ...%s...", err, tc.want)
			}
		})
	}
}

// TestAPIServerAcceptsOptIns guards the rules above against rejecting what
// they should allow.
func TestAPIServerAcceptsOptIns(t *testing.T) {
	cases := map[string]string{
		"plain http with the explicit opt-in": apiClient(`
  tokenURL: http://127.0.0.1:8080/token
  credentials: {secretName: creds}
  tls: {allowInsecureHTTP: true}`),
		"the bank M2M dialect spelled out without a preset": apiClient(`
  tokenURL: https://bank.example.com/m2m/token
  method: GET
  bodyEncoding: None
  grantType: None
  clientAuthentication: ClientSecretBasicRaw
  credentials: {secretName: creds, clientIDKey: username, clientSecretKey: password}
  clientCertificate: {secretName: bank-tls}
  refresh: {propagationBudget: 2m, defaultLifetime: 5m}`),
		"strategy Latest with its own budget and margin inside the declared lifetime": apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  refresh: {strategy: Latest, propagationBudget: 90s, retryMargin: 30s, defaultLifetime: 5m}`),
		"strategy Latest with the default budget and margin and a 5-minute lifetime": apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  refresh: {strategy: Latest, defaultLifetime: 5m}`),
		"strategy Fraction spelled out with a percentage": apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  refresh: {strategy: Fraction, refreshAtPercent: 60}`),
		"tls_client_auth with an inline client id and no Secret": apiClient(`
  tokenURL: https://login.example.com/token
  clientAuthentication: TLSClientAuth
  clientID: my-app
  clientCertificate: {m2mCertificateName: cert}`),
		"private_key_jwt signed with a bare key from a Secret, kid given": apiClient(`
  tokenURL: https://login.example.com/token
  clientAuthentication: PrivateKeyJWT
  clientID: my-app
  assertion: {keyID: key-1, signingKey: {name: jwt-key, key: key.pem}}`),
		"private_key_jwt with the client certificate's key and a derived kid": apiClient(`
  tokenURL: https://login.example.com/token
  clientAuthentication: PrivateKeyJWT
  clientID: my-app
  clientCertificate: {m2mCertificateName: cert}
  assertion: {keyIDFrom: Thumbprint}`),
		"the platform's JWKS kept in a named ConfigMap": apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  jwks: {url: "https://platform.example.com/jwks.json", configMapName: softpos-keys, refreshInterval: 10m}`),
		"a full channel URL": ingestionChannel(`
  url: https://ingest.example.com/v2/channels/abc`),
		"a static Authorization header with authentication None": notificationChannel(`
  webhookURL: https://hooks.example.com/n
  headers:
    - name: Authorization
      valueFrom: {name: webhook, key: authorization}
  authentication: {type: None}`),
		// The API server counts characters, as shared/safetemplate does.
		"a driver parameter as long as a template may be": notificationChannelAt(restPlatform(strings.Repeat("é", safetemplate.MaxTextLength)), `
  webhookURL: https://hooks.example.com/n
  authentication: {type: None}`),
		"an output template as long as a template may be": apiClient(`
  tokenURL: https://login.example.com/token
  credentials: {secretName: creds}
  output:
    template: {k: "` + strings.Repeat("é", safetemplate.MaxTextLength) + `"}`),
	}
	ns := env.Namespace(t)
	for name, manifest := range cases {
		t.Run(name, func(t *testing.T) {
			if err := create(t, ns, object(t, manifest)); err != nil {
				t.Fatalf("API server rejected a valid object: %v", err)
			}
		})
	}
}

func TestAPIServerRejectsChangesToIdentityFields(t *testing.T) {
	cases := []struct {
		name     string
		manifest string
		change   func(u *unstructured.Unstructured)
		want     string
	}{
		{
			name: "an ApiClient moved to another environment",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  environment: uat
  credentials: {secretName: creds}`),
			change: setField("prd", "spec", "environment"),
			want:   "environment is immutable",
		},
		{
			name: "an ApiClient losing its environment",
			manifest: apiClient(`
  tokenURL: https://login.example.com/token
  environment: uat
  credentials: {secretName: creds}`),
			change: func(u *unstructured.Unstructured) { unstructured.RemoveNestedField(u.Object, "spec", "environment") },
			want:   "environment is immutable",
		},
		{
			name: "an IngestionChannel handed to another customer",
			manifest: ingestionChannel(`
  url: https://ingest.example.com/ingestion/abc`),
			change: setField("someone-else", "spec", "customer"),
			want:   "customer is immutable",
		},
		{
			name: "an IngestionChannel pointed at another channel id",
			manifest: ingestionChannel(`
  baseURL: https://ingest.example.com
  channelID: abc`),
			change: setField("def", "spec", "channelID"),
			want:   "channelID is immutable",
		},
		{
			name: "an M2MCertificate switched from a Secret to PKCS#12",
			manifest: m2mCertificate(`
  secretRef: {name: existing-tls}`),
			change: func(u *unstructured.Unstructured) {
				unstructured.RemoveNestedField(u.Object, "spec", "secretRef")
				_ = unstructured.SetNestedMap(u.Object, map[string]any{
					"secretName": "bundle",
					"passphrase": map[string]any{"name": "bundle", "key": "passphrase"},
				}, "spec", "pkcs12")
			},
			want: "the certificate source cannot be switched",
		},
		{
			name: "a NotificationChannel moved to another platform driver",
			manifest: notificationChannel(`
  webhookURL: https://hooks.example.com/n
  authentication: {type: None}`),
			change: setField("another-driver", "spec", "platform", "driver"),
			want:   "platform.driver is immutable",
		},
	}
	ns := env.Namespace(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := object(t, tc.manifest)
			if err := create(t, ns, u); err != nil {
				t.Fatalf("create the original object: %v", err)
			}
			tc.change(u)
			err := env.Client.Update(context.Background(), u)
			if err == nil {
				t.Fatalf("API server accepted the change; want a rejection saying %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("rejection does not say what to fix:\n got: %v\nwant: ...%s...", err, tc.want)
			}
		})
	}
}

func setField(value string, path ...string) func(*unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, value, path...)
	}
}

// Each kind's manifest with a generated name; the spec is given as YAML
// indented by two spaces.
func apiClient(spec string) string {
	return "apiVersion: keyport.dev/v1alpha1\nkind: ApiClient\nmetadata: {generateName: apic-}\nspec:" + spec + "\n"
}

func m2mCertificate(spec string) string {
	return "apiVersion: keyport.dev/v1alpha1\nkind: M2MCertificate\nmetadata: {generateName: cert-}\nspec:" + spec + "\n"
}

// ingestionChannel fills the fields every channel needs.
func ingestionChannel(spec string) string {
	return "apiVersion: keyport.dev/v1alpha1\nkind: IngestionChannel\nmetadata: {generateName: ingch-}\nspec:" +
		"\n  apiClientName: datasharing\n  customer: acme\n  messageType: ContainerEvent" + spec + "\n"
}

// notificationChannel fills the platform and the channel name.
func notificationChannel(spec string) string {
	return notificationChannelAt(`{driver: generic-rest, apiClientName: platform, managementURL: "https://platform.example.com/api"}`, spec)
}

// restPlatform is the generic REST driver's platform with a channels.body.
func restPlatform(body string) string {
	return `{driver: generic-rest, apiClientName: platform, managementURL: "https://platform.example.com/api", parameters: {channels.body: "` + body + `"}}`
}

// notificationChannelAt is a channel at the given platform (YAML).
func notificationChannelAt(platform, spec string) string {
	return "apiVersion: keyport.dev/v1alpha1\nkind: NotificationChannel\nmetadata: {generateName: notifch-}\nspec:" +
		"\n  platform: " + platform + "\n  channelName: visits" + spec + "\n"
}

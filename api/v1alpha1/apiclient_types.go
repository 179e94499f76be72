package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Preset, its values and their doc are generated from the preset table in
// shared/dialect into zz_generated.presets.go.

// HTTPMethod of the token request.
// +kubebuilder:validation:Enum=POST;GET
type HTTPMethod string

const (
	MethodPOST HTTPMethod = "POST"
	MethodGET  HTTPMethod = "GET"
)

// BodyEncoding of the token request.
// +kubebuilder:validation:Enum=Form;JSON;None
type BodyEncoding string

const (
	// BodyForm is application/x-www-form-urlencoded, as RFC 6749 specifies.
	BodyForm BodyEncoding = "Form"
	// BodyJSON is a JSON object with the same parameter names.
	BodyJSON BodyEncoding = "JSON"
	// BodyNone sends no body (a GET token request).
	BodyNone BodyEncoding = "None"
)

// GrantType of the token request.
// +kubebuilder:validation:Enum=ClientCredentials;Password;None
type GrantType string

const (
	// GrantClientCredentials sends grant_type=client_credentials.
	GrantClientCredentials GrantType = "ClientCredentials"
	// GrantPassword sends grant_type=password with username and password.
	GrantPassword GrantType = "Password"
	// GrantNone sends no grant parameters: the endpoint issues a token to the
	// authenticated client as it is (a GET with Basic credentials).
	GrantNone GrantType = "None"
)

// ClientAuthentication is how the client proves its identity to the token
// endpoint.
// +kubebuilder:validation:Enum=ClientSecretPost;ClientSecretBasic;ClientSecretBasicRaw;TLSClientAuth;PrivateKeyJWT;None
type ClientAuthentication string

const (
	// ClientSecretPost puts client_id and client_secret in the request body.
	ClientSecretPost ClientAuthentication = "ClientSecretPost"
	// ClientSecretBasic sends HTTP Basic with id and secret form-encoded first,
	// as RFC 6749 section 2.3.1 specifies.
	ClientSecretBasic ClientAuthentication = "ClientSecretBasic"
	// ClientSecretBasicRaw sends HTTP Basic with the unescaped id and secret,
	// which many providers expect instead of the RFC form.
	ClientSecretBasicRaw ClientAuthentication = "ClientSecretBasicRaw"
	// TLSClientAuth authenticates with the client certificate (RFC 8705) and
	// sends only client_id.
	TLSClientAuth ClientAuthentication = "TLSClientAuth"
	// PrivateKeyJWT sends a client assertion (RFC 7523) signed with the client
	// certificate's private key.
	PrivateKeyJWT ClientAuthentication = "PrivateKeyJWT"
	// NoClientAuthentication sends only client_id (a public client).
	NoClientAuthentication ClientAuthentication = "None"
)

// SigningAlgorithm for private_key_jwt client assertions.
// +kubebuilder:validation:Enum=RS256;PS256;ES256
type SigningAlgorithm string

// ApiClientSpec declares one registered client of one partner platform in one
// environment, and how Keyport keeps its token fresh.
//
// +kubebuilder:validation:XValidation:rule="!has(self.preset) || !(has(self.method) || has(self.bodyEncoding) || has(self.grantType) || has(self.clientAuthentication))",message="preset already fixes method, bodyEncoding, grantType and clientAuthentication: remove those fields, or remove preset to spell the dialect out"
// +kubebuilder:validation:XValidation:rule="!has(self.revocationProbe) || self.revocationProbe.url.startsWith('https://') || (has(self.tls) && has(self.tls.allowInsecureHTTP) && self.tls.allowInsecureHTTP)",message="revocationProbe.url must start with https://: it carries a token"
// +kubebuilder:validation:XValidation:rule="self.tokenURL.startsWith('https://') || (has(self.tls) && has(self.tls.allowInsecureHTTP) && self.tls.allowInsecureHTTP)",message="tokenURL must start with https://; plain http:// is allowed only with tls.allowInsecureHTTP: true, for local testing"
// +kubebuilder:validation:XValidation:rule="!(has(self.method) && self.method == 'GET') || (has(self.bodyEncoding) && self.bodyEncoding == 'None')",message="a GET token request has no body: set bodyEncoding: None"
// +kubebuilder:validation:XValidation:rule="!(has(self.bodyEncoding) && self.bodyEncoding == 'None') || (has(self.grantType) && self.grantType == 'None' && has(self.clientAuthentication) && self.clientAuthentication in ['ClientSecretBasic', 'ClientSecretBasicRaw', 'TLSClientAuth'])",message="bodyEncoding None carries no parameters: it needs grantType: None and a clientAuthentication outside the body (ClientSecretBasic, ClientSecretBasicRaw or TLSClientAuth)"
// +kubebuilder:validation:XValidation:rule="has(self.credentials) || (has(self.clientAuthentication) && self.clientAuthentication in ['TLSClientAuth', 'PrivateKeyJWT', 'None'] && !(has(self.grantType) && self.grantType == 'Password'))",message="credentials is required: this client authentication or grant needs a client secret or password read from a Secret (credentials.secretName)"
// +kubebuilder:validation:XValidation:rule="has(self.clientID) || has(self.credentials)",message="set clientID, or credentials.secretName with a client_id key"
// +kubebuilder:validation:XValidation:rule="!((has(self.clientAuthentication) && self.clientAuthentication in ['TLSClientAuth', 'PrivateKeyJWT'] && !(self.clientAuthentication == 'PrivateKeyJWT' && has(self.assertion) && has(self.assertion.signingKey))) || (has(self.preset) && self.preset in ['BankM2M', 'SoftPOS'])) || has(self.clientCertificate)",message="this client authentication or preset uses mutual TLS or a signed assertion: set clientCertificate (an M2MCertificate or a kubernetes.io/tls Secret), or for PrivateKeyJWT alone assertion.signingKey (a bare private key)"
// +kubebuilder:validation:XValidation:rule="!(has(self.assertion) && has(self.assertion.signingKey) && has(self.clientCertificate))",message="the assertion's signing key comes from one place: remove assertion.signingKey to sign with clientCertificate's key, or remove clientCertificate"
// +kubebuilder:validation:XValidation:rule="!has(self.assertion) || (has(self.clientAuthentication) && self.clientAuthentication == 'PrivateKeyJWT')",message="assertion settings apply only to clientAuthentication: PrivateKeyJWT"
// +kubebuilder:validation:XValidation:rule="!has(self.refresh) || !has(self.refresh.propagationBudget) || !has(self.preset) || self.preset != 'BankM2M' || duration(self.refresh.propagationBudget) < duration('5m')",message="preset BankM2M issues 5-minute tokens: refresh.propagationBudget must be shorter than 5m (2m is a good value)"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.environment) == has(self.environment)",message="environment is immutable: create a new ApiClient for another environment"
type ApiClientSpec struct {
	// TokenURL is the platform's token endpoint, for example
	// https://login.example.com/connect/token.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['https', 'http'] && url(self).getHost() != ''",message="tokenURL must be an absolute URL such as https://login.example.com/connect/token"
	TokenURL string `json:"tokenURL"`

	// Environment labels the platform environment this client belongs to, such
	// as uat or prd. Platforms keep environments apart with separate
	// credentials, so it cannot change once set.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="environment is immutable: create a new ApiClient for another environment"
	Environment string `json:"environment,omitempty"`

	// +optional
	Preset Preset `json:"preset,omitempty"`

	// Method of the token request. Defaults to POST.
	// +optional
	Method HTTPMethod `json:"method,omitempty"`

	// BodyEncoding of the token request. Defaults to Form.
	// +optional
	BodyEncoding BodyEncoding `json:"bodyEncoding,omitempty"`

	// GrantType of the token request. Defaults to ClientCredentials.
	// +optional
	GrantType GrantType `json:"grantType,omitempty"`

	// ClientAuthentication method. Defaults to ClientSecretPost.
	// +optional
	ClientAuthentication ClientAuthentication `json:"clientAuthentication,omitempty"`

	// ClientID of the registered client, when it is not read from
	// credentials. A client id is an identifier, not a secret.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	ClientID string `json:"clientID,omitempty"`

	// Credentials names the Secret holding the client secret, user name and
	// password, as the grant and client authentication require.
	// +optional
	Credentials *CredentialsSource `json:"credentials,omitempty"`

	// ClientCertificate is presented for mutual TLS, and its key signs
	// private_key_jwt assertions.
	// +optional
	ClientCertificate *ClientCertificateReference `json:"clientCertificate,omitempty"`

	// Scopes requested, sent space-separated. A preset may add its own default.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^[\x21\x23-\x5B\x5D-\x7E]+$`
	Scopes []string `json:"scopes,omitempty"`

	// ExtraParameters are added to the token request, for example audience or
	// resource. They must not carry secrets.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['client_secret', 'password', 'client_assertion', 'grant_type', 'client_id', 'username']))",message="extraParameters must not set client_id, client_secret, username, password, grant_type or client_assertion: use credentials and the dialect fields"
	ExtraParameters map[string]string `json:"extraParameters,omitempty"`

	// Headers are added to every API call a workload makes with this token
	// (and written to headers.json in the output Secret), for example
	// Ocp-Apim-Subscription-Key. Authorization is set by Keyport.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(h, !(h.name.lowerAscii() in ['authorization', 'host', 'content-length']))",message="headers must not set Authorization, Host or Content-Length: Keyport writes Authorization from the token"
	Headers []HTTPHeader `json:"headers,omitempty"`

	// TLS settings for the token endpoint.
	// +optional
	TLS *TLSSettings `json:"tls,omitempty"`

	// Assertion settings for private_key_jwt.
	// +optional
	Assertion *AssertionSettings `json:"assertion,omitempty"`

	// Refresh policy: when a token is replaced.
	// +optional
	Refresh *RefreshPolicy `json:"refresh,omitempty"`

	// Output describes the Secret that holds the live token.
	// +optional
	Output *TokenOutput `json:"output,omitempty"`

	// RevocationProbe detects platforms that revoke the previous token when
	// they issue a new one: after each refresh Keyport calls this API URL
	// once with the previous token (and the spec's headers). Pods that have
	// not yet seen the new token would fail on such a platform; Keyport then
	// reports TokenRevokedOnReissue.
	// +optional
	RevocationProbe *RevocationProbe `json:"revocationProbe,omitempty"`

	// JWKS keeps the platform's public keys (its JSON Web Key Set, which is
	// not secret) in a ConfigMap next to the token Secret, for workloads
	// that verify the platform's signatures or encrypt to its "enc" key
	// (a Pushed Authorization Request, say). Mount the ConfigMap as a volume.
	// +optional
	JWKS *JWKSSettings `json:"jwks,omitempty"`

	// Suspend stops refreshing without deleting anything. The Secret keeps the
	// last token until it expires.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// JWKSSettings say where the platform publishes its keys and how fresh the
// copy is kept. Keyport fetches them again after the platform's cache
// lifetime (Cache-Control max-age or Expires) or refreshInterval, whichever
// comes first (never more often than once a minute), and at once when the
// ApiClient's keyport.dev/refresh annotation changes.
// +kubebuilder:validation:XValidation:rule="self.url.startsWith('https://')",message="jwks.url must start with https://: a key set fetched in the clear could be replaced on the way"
type JWKSSettings struct {
	// URL of the key set, for example https://platform.example.com/jwks.json.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getHost() != ''",message="jwks.url must be an absolute URL such as https://platform.example.com/jwks.json"
	URL string `json:"url"`

	// ConfigMapName is the ConfigMap that holds the key set under jwks.json.
	// Defaults to the ApiClient's name with the suffix -jwks.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	ConfigMapName string `json:"configMapName,omitempty"`

	// RefreshInterval is the longest the copy goes without a fetch. Default 1h.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="jwks.refreshInterval must be at least 1m"
	RefreshInterval *metav1.Duration `json:"refreshInterval,omitempty"`
}

// RevocationProbe is a cheap, read-only API call that any valid token may make.
type RevocationProbe struct {
	// URL of the API call, for example https://api.example.com/v1/ping.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['https', 'http'] && url(self).getHost() != ''",message="revocationProbe.url must be an absolute URL such as https://api.example.com/v1/ping"
	URL string `json:"url"`
}

// CredentialsSource names a Secret in the ApiClient's namespace and the keys
// of the values Keyport reads from it. Key names default to client_id,
// client_secret, username and password (BankM2M reads its Basic credentials
// from username and password).
// +kubebuilder:validation:XValidation:rule="!has(self.__namespace__)",message="Secret references are same-namespace only: remove 'namespace' and create the Secret in this ApiClient's namespace"
type CredentialsSource struct {
	// SecretName of the credentials Secret in the ApiClient's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName"`

	// ClientIDKey is the key holding the client id. Default client_id.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ClientIDKey string `json:"clientIDKey,omitempty"`

	// ClientSecretKey is the key holding the client secret. Default client_secret.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ClientSecretKey string `json:"clientSecretKey,omitempty"`

	// UsernameKey is the key holding the user name. Default username.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	UsernameKey string `json:"usernameKey,omitempty"`

	// PasswordKey is the key holding the password. Default password.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PasswordKey string `json:"passwordKey,omitempty"`

	// Namespace must not be set: credentials are read from the ApiClient's
	// own namespace only.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// ClientCertificateReference names the client certificate, either an
// M2MCertificate or an existing kubernetes.io/tls Secret, in the same
// namespace.
// +kubebuilder:validation:XValidation:rule="has(self.m2mCertificateName) != has(self.secretName)",message="set exactly one of clientCertificate.m2mCertificateName or clientCertificate.secretName"
type ClientCertificateReference struct {
	// M2MCertificateName names an M2MCertificate whose output Secret is used.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	M2MCertificateName string `json:"m2mCertificateName,omitempty"`

	// SecretName names a kubernetes.io/tls Secret (tls.crt, tls.key).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName,omitempty"`
}

// TLSSettings for outbound calls to the token endpoint.
type TLSSettings struct {
	// CABundle verifies the server with these PEM certificates instead of the
	// system roots.
	// +optional
	CABundle *SecretKeySelector `json:"caBundle,omitempty"`

	// AllowInsecureHTTP permits a plain http:// tokenURL. Only for local
	// testing: credentials would cross the network unencrypted. Honoured
	// only when the operator runs with --outbound-tenant-opt-outs=insecure-http.
	// +optional
	AllowInsecureHTTP bool `json:"allowInsecureHTTP,omitempty"`

	// AllowLinkLocal permits token endpoints that resolve to link-local
	// addresses, which Keyport refuses by default. Honoured only when the
	// operator runs with --outbound-tenant-opt-outs=link-local, and never
	// for cloud metadata addresses.
	// +optional
	AllowLinkLocal bool `json:"allowLinkLocal,omitempty"`
}

// AssertionSettings shape the private_key_jwt client assertion.
// +kubebuilder:validation:XValidation:rule="!(has(self.keyID) && has(self.keyIDFrom))",message="set keyID or keyIDFrom, not both: keyIDFrom: Thumbprint derives the kid that keyID would set"
type AssertionSettings struct {
	// Audience of the assertion. Defaults to the tokenURL.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Audience string `json:"audience,omitempty"`

	// Algorithm that signs the assertion. Defaults to RS256 for RSA keys and
	// ES256 for ECDSA keys.
	// +optional
	Algorithm SigningAlgorithm `json:"algorithm,omitempty"`

	// KeyID is sent as the assertion's kid header: the id the platform
	// registered the client's public key under. Servers that hold more than
	// one key for a client need it to pick the right one.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	KeyID string `json:"keyID,omitempty"`

	// KeyIDFrom derives the kid header instead: Thumbprint sends the signing
	// key's RFC 7638 SHA-256 JWK thumbprint (base64url), the kid many
	// platforms assign to an uploaded key.
	// +optional
	KeyIDFrom KeyIDSource `json:"keyIDFrom,omitempty"`

	// SigningKey reads a bare private key from a Secret in the same
	// namespace, for platforms that register a public key rather than a
	// certificate: PEM (PKCS#8, PKCS#1 or EC) or a private JWK (JSON). It
	// replaces clientCertificate as the key's source; set one of the two.
	// +optional
	SigningKey *SecretKeySelector `json:"signingKey,omitempty"`
}

// KeyIDSource derives a private_key_jwt assertion's kid.
// +kubebuilder:validation:Enum=Thumbprint
type KeyIDSource string

// KeyIDThumbprint is the RFC 7638 SHA-256 JWK thumbprint of the signing key.
const KeyIDThumbprint KeyIDSource = "Thumbprint"

// RefreshPolicy decides when a token is replaced. With strategy Fraction (the
// default) a token is refreshed at the earlier of (issue time +
// refreshAtPercent of its lifetime) and (expiry − propagationBudget); with
// strategy Latest at expiry − propagationBudget − retryMargin. Either is moved
// earlier by a small jitter, never later. The budget covers the time a
// changed Secret needs to reach a mounted volume (60–90 s with default
// kubelet settings).
// +kubebuilder:validation:XValidation:rule="!has(self.defaultLifetime) || !has(self.propagationBudget) || duration(self.propagationBudget) < duration(self.defaultLifetime)",messageExpression="'propagationBudget ' + self.propagationBudget + ' must be shorter than defaultLifetime ' + self.defaultLifetime + ': a token would be replaced before it could ever be used'"
// +kubebuilder:validation:XValidation:rule="!has(self.refreshAtPercent) || !has(self.strategy) || self.strategy != 'Latest'",message="refreshAtPercent applies only to strategy Fraction: remove refreshAtPercent, or set strategy to Fraction"
// +kubebuilder:validation:XValidation:rule="!has(self.retryMargin) || (has(self.strategy) && self.strategy == 'Latest')",message="retryMargin applies only to strategy Latest: remove retryMargin, or set strategy to Latest"
// +kubebuilder:validation:XValidation:rule="!has(self.defaultLifetime) || !has(self.strategy) || self.strategy != 'Latest' || (has(self.propagationBudget) ? duration(self.propagationBudget) : duration('2m')) + (has(self.retryMargin) ? duration(self.retryMargin) : duration('1m')) < duration(self.defaultLifetime)",message="with strategy Latest, propagationBudget plus retryMargin (defaults 2m and 1m) must be shorter than defaultLifetime: lower them, or use strategy Fraction"
type RefreshPolicy struct {
	// Strategy picks the refresh point. Fraction (default) refreshes at
	// refreshAtPercent of the lifetime, earlier if the budget needs it:
	// 2 token requests per lifetime at 50 %, and a platform outage of up to
	// the time left before expiry − propagationBudget passes unnoticed.
	// Latest refreshes at expiry − propagationBudget − retryMargin, for
	// platforms that ask for as few token requests as possible: about one
	// per lifetime for long-lived tokens (1.05 for 1-hour tokens with the
	// defaults), but only retryMargin of outage passes before the budget is
	// eaten into. For tokens shorter than twice budget plus margin (6m with
	// the defaults) Latest refreshes earlier than Fraction at 50 %.
	// +optional
	// +kubebuilder:validation:Enum=Fraction;Latest
	Strategy RefreshStrategy `json:"strategy,omitempty"`

	// RefreshAtPercent of the token's lifetime after which it is refreshed,
	// with strategy Fraction only. Default 50.
	// +optional
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=90
	RefreshAtPercent *int32 `json:"refreshAtPercent,omitempty"`

	// PropagationBudget is how long a replaced token must still be valid, so
	// that every pod has seen the new one before the old one expires.
	// Default 2m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('0s') && duration(self) <= duration('1h')",message="propagationBudget must be a duration between 0s and 1h, such as 2m or 90s"
	PropagationBudget *metav1.Duration `json:"propagationBudget,omitempty"`

	// RetryMargin is, with strategy Latest only, the time left before
	// expiry − propagationBudget for retrying a failed refresh before the new
	// token could reach a pod too late. Default 1m: with the operator's
	// backoff (1 s doubling) that holds six or seven attempts against a
	// platform that refuses at once and four against one that hangs until
	// the 15-second request timeout. After it, retries go on, more often, as
	// the current token runs out.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('0s') && duration(self) <= duration('1h')",message="retryMargin must be a duration between 0s and 1h, such as 1m or 30s"
	RetryMargin *metav1.Duration `json:"retryMargin,omitempty"`

	// DefaultLifetime is assumed when the token response has no expires_in
	// and the token is not a JWT with an exp claim. Without it such a token
	// cannot be scheduled and the ApiClient is not Ready.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('30s') && duration(self) <= duration('24h')",message="defaultLifetime must be a duration between 30s and 24h, such as 5m or 1h"
	DefaultLifetime *metav1.Duration `json:"defaultLifetime,omitempty"`
}

// RefreshStrategy picks a RefreshPolicy's refresh point.
type RefreshStrategy string

const (
	RefreshFraction RefreshStrategy = "Fraction"
	RefreshLatest   RefreshStrategy = "Latest"
)

// TokenOutput describes the Secret that holds the live token.
type TokenOutput struct {
	// SecretName of the output Secret. Defaults to <apiclient-name>-token.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	SecretName string `json:"secretName,omitempty"`

	// Template adds keys to the Secret, each rendered as a Go text/template
	// with .AccessToken, .TokenType, .Authorization, .ExpiresAt and .Headers.
	// It cannot overwrite the standard keys. Each template is at most 8192
	// characters, and printf widths and precisions at most 64.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 8192)",message="each template must be at most 8192 characters"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['access_token', 'token_type', 'authorization', 'expires_at', 'headers.json']))",message="template must not redefine access_token, token_type, authorization, expires_at or headers.json"
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[-._a-zA-Z0-9]+$'))",message="template keys must be valid Secret keys: letters, digits, '-', '_' and '.'"
	Template map[string]string `json:"template,omitempty"`
}

// ApiClientStatus is what the operator observed and did.
type ApiClientStatus struct {
	// ObservedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready and Degraded.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// OutputSecretName is the Secret that holds the live token. It is set
	// once Keyport has written a token there, so a name here is a Secret
	// that exists.
	// +optional
	OutputSecretName string `json:"outputSecretName,omitempty"`

	// TokenExpiresAt is when the token in the output Secret expires, as its
	// keyport.dev/expires-at annotation says. Empty when the operator runs
	// with --status-token-times=omit, which saves the status write of each
	// refresh.
	// +optional
	TokenExpiresAt *metav1.Time `json:"tokenExpiresAt,omitempty"`

	// LastRefreshTime is when the token in the output Secret was obtained.
	// Empty with --status-token-times=omit.
	// +optional
	LastRefreshTime *metav1.Time `json:"lastRefreshTime,omitempty"`

	// NextRefreshTime is when the next refresh (or retry) is planned, as the
	// Secret's keyport.dev/refresh-at annotation says. Empty while healthy
	// with --status-token-times=omit.
	// +optional
	NextRefreshTime *metav1.Time `json:"nextRefreshTime,omitempty"`

	// ConsecutiveFailures counts failed refreshes since the last success.
	// +optional
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`

	// RetryAt is when the request that failed last may be made again;
	// empty after a success. A new leader reads it back, so that a failover
	// does not retry at once what the platform just refused or asked to
	// wait for.
	// +optional
	RetryAt *metav1.Time `json:"retryAt,omitempty"`

	// CertificateThumbprint is the SHA-1 thumbprint (upper-case hex) of the
	// client certificate used for the current token, if any.
	// +optional
	CertificateThumbprint string `json:"certificateThumbprint,omitempty"`
}

// ApiClient keeps an OAuth 2.0 access token for one client of one partner
// platform fresh in a Secret that workloads mount.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=apic,categories=keyport
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.tokenExpiresAt`
// +kubebuilder:printcolumn:name="Next-Refresh",type=string,JSONPath=`.status.nextRefreshTime`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.status.outputSecretName`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ApiClient struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ApiClientSpec   `json:"spec"`
	Status ApiClientStatus `json:"status,omitempty"`
}

// ApiClientList is a list of ApiClients.
//
// +kubebuilder:object:root=true
type ApiClientList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ApiClient `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ApiClient{}, &ApiClientList{})
}

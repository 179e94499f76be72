package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/jwks"
	"github.com/keyport-dev/keyport/shared/dialect"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/par"
)

type parResult struct {
	Namespace  string    `json:"namespace"`
	ApiClient  string    `json:"apiClient"`
	Endpoint   string    `json:"endpoint"`
	RequestURI string    `json:"requestURI"`
	ExpiresAt  time.Time `json:"expiresAt"`
	Encrypted  bool      `json:"encrypted"`
	// Certificate names the Secret whose certificate and key were used.
	Certificate string `json:"certificateSecret"`
}

type parFlags struct {
	endpoint, redirectURI, scope, clientID, allowCIDRs string
	params                                             []string
}

func newPARCommand(o *options) *cobra.Command {
	f := &parFlags{}
	cmd := &cobra.Command{
		Use:   "par APICLIENT --endpoint URL --redirect-uri URI",
		Short: "Make a Pushed Authorization Request with an ApiClient's certificate, as a workload would, and print the request_uri",
		Long: `par tests an enrolment with a platform such as the SoftPOS API: it sends a
Pushed Authorization Request (RFC 9126) to --endpoint as the ApiClient's
workloads would with shared/par, with the ApiClient's client id, its client
certificate (for mutual TLS and to sign the client assertion, with the kid
spec.assertion sets), its CA bundle, and, when spec.jwks keeps the platform's
keys, the parameters encrypted to the platform's "enc" key. It prints the
request_uri and when it expires; never the key or the assertion.

It reads the ApiClient, the certificate's Secret, the CA bundle Secret, the
credentials Secret when the client id is kept there, and the JWKS ConfigMap.`,
		Example: `  kubectl keyport par softpos-uat -n payments \
    --endpoint https://softpos-uat.example.com/as/par --redirect-uri https://merchant.example.com/cb`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.endpoint == "" || f.redirectURI == "" {
				return fmt.Errorf("--endpoint and --redirect-uri are required")
			}
			s, err := o.session()
			if err != nil {
				return err
			}
			res, err := s.par(ctx(cmd), args[0], f)
			if err != nil {
				return err
			}
			return o.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "ApiClient %s/%s: pushed authorization request accepted by %s\n", res.Namespace, res.ApiClient, hostOf(res.Endpoint))
				fmt.Fprintf(w, "  request_uri:  %s\n", res.RequestURI)
				fmt.Fprintf(w, "  expires:      %s (%s)\n", res.ExpiresAt.UTC().Format(time.RFC3339), relative(res.ExpiresAt, s.now))
				enc := "no (the platform's JWKS has no enc key, or spec.jwks is not set)"
				if res.Encrypted {
					enc = "yes, to the platform's enc key"
				}
				fmt.Fprintf(w, "  encrypted:    %s\n", enc)
				fmt.Fprintf(w, "  certificate:  Secret %s\n", res.Certificate)
			})
		},
	}
	cmd.Flags().StringVar(&f.endpoint, "endpoint", "", "The platform's PAR endpoint")
	cmd.Flags().StringVar(&f.redirectURI, "redirect-uri", "", "redirect_uri of the authorization request")
	cmd.Flags().StringVar(&f.scope, "scope", "", "scope of the authorization request; default the ApiClient's scopes")
	cmd.Flags().StringVar(&f.clientID, "client-id", "", "client_id; default the ApiClient's")
	cmd.Flags().StringArrayVar(&f.params, "param", nil, "A further authorization request parameter, NAME=VALUE (repeatable)")
	cmd.Flags().StringVar(&f.allowCIDRs, "allow-cidrs", "", "Address ranges the request may go to although Keyport refuses them by default "+
		"(loopback, for a sandbox on this machine), comma-separated CIDRs")
	return cmd
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return raw
}

// par gathers what a workload of the ApiClient would have mounted and pushes.
// The material holds a private key: it goes to shared/par and nowhere else.
func (s *session) par(ctx context.Context, name string, f *parFlags) (*parResult, error) {
	ac := &keyportv1.ApiClient{}
	if err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: name}, ac); err != nil {
		return nil, fmt.Errorf("read ApiClient %q: %w", name, err)
	}
	req := par.Request{Endpoint: f.endpoint, RedirectURI: f.redirectURI, ClientID: f.clientID, Scope: f.scope,
		Params: map[string]string{}, Now: func() time.Time { return s.now }}
	for _, p := range f.params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q is not NAME=VALUE", p)
		}
		req.Params[k] = v
	}
	if f.allowCIDRs != "" {
		ranges, err := outbound.ParseRanges(f.allowCIDRs)
		if err != nil {
			return nil, fmt.Errorf("--allow-cidrs: %w", err)
		}
		req.Policy = &outbound.Policy{Allow: ranges}
	}
	if a := ac.Spec.Assertion; a != nil {
		req.KeyID, req.ThumbprintKeyID = a.KeyID, a.KeyIDFrom == keyportv1.KeyIDThumbprint
	}
	if req.Scope == "" {
		req.Scope = strings.Join(ac.Spec.Scopes, " ")
	}
	if req.ClientID == "" {
		req.ClientID = ac.Spec.ClientID
	}
	if req.ClientID == "" && ac.Spec.Credentials != nil {
		d, err := dialect.Resolve(&ac.Spec)
		if err != nil {
			return nil, err
		}
		v, err := s.secretValue(ctx, ac.Spec.Credentials.SecretName, d.ClientIDKey)
		if err != nil {
			return nil, err
		}
		req.ClientID = v
	}

	var mat par.Material
	certSecret, err := s.certificateSecret(ctx, ac)
	if err != nil {
		return nil, err
	}
	sec := &corev1.Secret{}
	if err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: certSecret}, sec); err != nil {
		return nil, fmt.Errorf("read the certificate's Secret %q: %w", certSecret, err)
	}
	mat.CertPEM, mat.KeyPEM = sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
	if len(mat.CertPEM) == 0 || len(mat.KeyPEM) == 0 {
		return nil, fmt.Errorf("Secret %q has no tls.crt and tls.key", certSecret)
	}
	if t := ac.Spec.TLS; t != nil && t.CABundle != nil {
		v, err := s.secretValue(ctx, t.CABundle.Name, t.CABundle.Key)
		if err != nil {
			return nil, err
		}
		mat.CAPEM = []byte(v)
	}
	if ac.Spec.JWKS != nil {
		cm := &corev1.ConfigMap{}
		if err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: jwks.ConfigMapName(ac)}, cm); err != nil {
			return nil, fmt.Errorf("read the platform's key set, ConfigMap %q: %w", jwks.ConfigMapName(ac), err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal([]byte(cm.Data[jwks.Key]), &set); err != nil {
			return nil, fmt.Errorf("ConfigMap %q has no key set in %s", cm.Name, jwks.Key)
		}
		mat.JWKS = &set
	}
	res, err := par.PushMaterial(ctx, mat, req)
	if err != nil {
		return nil, err
	}
	return &parResult{Namespace: s.namespace, ApiClient: name, Endpoint: f.endpoint, RequestURI: res.RequestURI,
		ExpiresAt: res.ExpiresAt, Encrypted: res.Encrypted, Certificate: certSecret}, nil
}

// certificateSecret is the Secret of the ApiClient's client certificate.
func (s *session) certificateSecret(ctx context.Context, ac *keyportv1.ApiClient) (string, error) {
	ref := ac.Spec.ClientCertificate
	switch {
	case ref == nil:
		return "", fmt.Errorf("ApiClient %q has no clientCertificate: a pushed authorization request is signed with its key", ac.Name)
	case ref.M2MCertificateName != "":
		m := &keyportv1.M2MCertificate{}
		if err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: ref.M2MCertificateName}, m); err != nil {
			return "", fmt.Errorf("read M2MCertificate %q: %w", ref.M2MCertificateName, err)
		}
		if m.Status.OutputSecretName == "" {
			return "", fmt.Errorf("M2MCertificate %q has no Secret yet (`kubectl keyport status m2mcertificate %s`)", m.Name, m.Name)
		}
		return m.Status.OutputSecretName, nil
	}
	return ref.SecretName, nil
}

func (s *session) secretValue(ctx context.Context, name, key string) (string, error) {
	sec := &corev1.Secret{}
	if err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: name}, sec); err != nil {
		return "", fmt.Errorf("read Secret %q: %w", name, err)
	}
	v := sec.Data[key]
	if len(v) == 0 {
		return "", fmt.Errorf("Secret %q has no key %q", name, key)
	}
	return string(v), nil
}

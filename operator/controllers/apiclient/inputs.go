package apiclient

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/dialect"
)

// inputs are the values a token request is made from, read from the
// ApiClient's spec and the Secrets it references. They hold secrets: never
// log or print them.
type inputs struct {
	dialect dialect.Dialect

	clientID, clientSecret, username, password string
	// headers are the static API headers, values resolved.
	headers map[string]string
	// caBundle verifies the token endpoint when set.
	caBundle []byte
	// certPEM and keyPEM are the client certificate, when the dialect uses one.
	certPEM, keyPEM []byte
	// signingKey signs assertions when spec.assertion.signingKey names a
	// bare private key; signingKeyRaw is what it was decoded from.
	signingKey    crypto.Signer
	signingKeyRaw []byte
}

// inputError is a failure to gather the inputs, with the condition reason
// that explains it. Its message names objects and keys, never values.
type inputError struct {
	reason  string
	message string
}

func (e *inputError) Error() string { return e.message }

// secretReader reads Secrets from the ApiClient's own namespace only: no
// field of the API can name another one, and this type cannot either.
type secretReader struct {
	c         client.Reader
	namespace string
	cache     map[string]*corev1.Secret
}

func (r *secretReader) value(ctx context.Context, name, key, purpose string) (string, error) {
	s, err := r.secret(ctx, name, purpose)
	if err != nil {
		return "", err
	}
	v, ok := s.Data[key]
	if !ok || len(v) == 0 {
		return "", &inputError{keyportv1.ReasonCredentialsNotFound,
			fmt.Sprintf("Secret %q has no key %q (%s)", name, key, purpose)}
	}
	return string(v), nil
}

func (r *secretReader) secret(ctx context.Context, name, purpose string) (*corev1.Secret, error) {
	if s, ok := r.cache[name]; ok {
		return s, nil
	}
	s := &corev1.Secret{}
	if err := r.c.Get(ctx, types.NamespacedName{Namespace: r.namespace, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &inputError{keyportv1.ReasonCredentialsNotFound,
				fmt.Sprintf("Secret %q (%s) does not exist in namespace %q", name, purpose, r.namespace)}
		}
		return nil, fmt.Errorf("read Secret %q: %w", name, err)
	}
	if r.cache == nil {
		r.cache = map[string]*corev1.Secret{}
	}
	r.cache[name] = s
	return s, nil
}

// gatherInputs reads everything the next token request needs.
func gatherInputs(ctx context.Context, c client.Reader, ac *keyportv1.ApiClient) (*inputs, error) {
	spec := &ac.Spec
	d, err := dialect.Resolve(spec)
	if err != nil {
		// An API value this operator does not know (a newer CRD): nothing is
		// sent rather than a guess at the request.
		return nil, &inputError{keyportv1.ReasonTokenEndpointRejected, err.Error()}
	}
	in := &inputs{dialect: d, clientID: spec.ClientID, headers: map[string]string{}}
	r := &secretReader{c: c, namespace: ac.Namespace}

	if cred := spec.Credentials; cred != nil {
		var err error
		if in.clientID == "" {
			if in.clientID, err = r.value(ctx, cred.SecretName, d.ClientIDKey, "client id"); err != nil {
				return nil, err
			}
		}
		if d.NeedsClientSecret() {
			if in.clientSecret, err = r.value(ctx, cred.SecretName, d.ClientSecretKey, "client secret"); err != nil {
				return nil, err
			}
		}
		if d.GrantType == keyportv1.GrantPassword {
			if in.username, err = r.value(ctx, cred.SecretName, d.UsernameKey, "user name"); err != nil {
				return nil, err
			}
			if in.password, err = r.value(ctx, cred.SecretName, d.PasswordKey, "password"); err != nil {
				return nil, err
			}
		}
	}
	for _, h := range spec.Headers {
		if h.Value != nil {
			in.headers[h.Name] = *h.Value
			continue
		}
		v, err := r.value(ctx, h.ValueFrom.Name, h.ValueFrom.Key, "header "+h.Name)
		if err != nil {
			return nil, err
		}
		in.headers[h.Name] = v
	}
	if tls := spec.TLS; tls != nil && tls.CABundle != nil {
		v, err := r.value(ctx, tls.CABundle.Name, tls.CABundle.Key, "CA bundle")
		if err != nil {
			return nil, err
		}
		in.caBundle = []byte(v)
	}
	if a := spec.Assertion; a != nil && a.SigningKey != nil {
		v, err := r.value(ctx, a.SigningKey.Name, a.SigningKey.Key, "assertion signing key")
		if err != nil {
			return nil, err
		}
		if in.signingKey, err = certs.DecodePrivateKey([]byte(v)); err != nil {
			return nil, &inputError{keyportv1.ReasonCredentialsNotFound,
				fmt.Sprintf("Secret %q key %q (assertion signing key) cannot be used: %v", a.SigningKey.Name, a.SigningKey.Key, err)}
		}
		in.signingKeyRaw = []byte(v)
	}
	if d.NeedsClientCertificate(spec) {
		if err := gatherCertificate(ctx, c, r, ac, in); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// gatherCertificate reads the client certificate from an M2MCertificate's
// output Secret or from a kubernetes.io/tls Secret.
func gatherCertificate(ctx context.Context, c client.Reader, r *secretReader, ac *keyportv1.ApiClient, in *inputs) error {
	ref := ac.Spec.ClientCertificate
	if ref == nil {
		return &inputError{keyportv1.ReasonCertificateNotReady, "this dialect needs spec.clientCertificate"}
	}
	secretName := ref.SecretName
	if ref.M2MCertificateName != "" {
		cert := &keyportv1.M2MCertificate{}
		err := c.Get(ctx, types.NamespacedName{Namespace: ac.Namespace, Name: ref.M2MCertificateName}, cert)
		if apierrors.IsNotFound(err) {
			return &inputError{keyportv1.ReasonCertificateNotReady,
				fmt.Sprintf("M2MCertificate %q does not exist", ref.M2MCertificateName)}
		}
		if err != nil {
			return fmt.Errorf("read M2MCertificate %q: %w", ref.M2MCertificateName, err)
		}
		if !isReady(cert.Status.Conditions, cert.Generation) || cert.Status.OutputSecretName == "" {
			return &inputError{keyportv1.ReasonCertificateNotReady,
				fmt.Sprintf("M2MCertificate %q is not Ready yet", ref.M2MCertificateName)}
		}
		secretName = cert.Status.OutputSecretName
	}
	s, err := r.secret(ctx, secretName, "client certificate")
	if err != nil {
		if ie, ok := err.(*inputError); ok {
			ie.reason = keyportv1.ReasonCertificateNotReady
		}
		return err
	}
	in.certPEM, in.keyPEM = s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if len(in.certPEM) == 0 || len(in.keyPEM) == 0 {
		return &inputError{keyportv1.ReasonCertificateNotReady,
			fmt.Sprintf("Secret %q has no tls.crt and tls.key", secretName)}
	}
	return nil
}

// mac identifies the spec and credential values a token was requested with,
// keyed so that nothing about the secrets can be learned from it (the value
// is stored in an annotation). A change in the result means the next token
// must be requested with new inputs.
func (in *inputs) mac(key []byte, spec *keyportv1.ApiClientSpec) string {
	h := hmac.New(sha256.New, key)
	// The spec's JSON is a stable encoding of every field that shapes the
	// request, the refresh policy included (a new policy takes effect with a
	// new token). Suspending and the output's layout need no new token.
	relevant := spec.DeepCopy()
	relevant.Suspend = false
	relevant.Output = nil
	relevant.JWKS = nil // the platform's key set has its own controller
	specJSON, _ := json.Marshal(relevant)
	write := func(label string, b []byte) {
		// Length-prefixed so that no two different inputs encode the same.
		fmt.Fprintf(h, "%s:%d:", label, len(b))
		h.Write(b)
	}
	write("spec", specJSON)
	write("client_id", []byte(in.clientID))
	write("client_secret", []byte(in.clientSecret))
	write("username", []byte(in.username))
	write("password", []byte(in.password))
	for _, name := range slices.Sorted(maps.Keys(in.headers)) {
		write("header "+name, []byte(in.headers[name]))
	}
	write("ca", in.caBundle)
	write("cert", in.certPEM)
	write("key", in.keyPEM)
	write("signing key", in.signingKeyRaw)
	return hex.EncodeToString(h.Sum(nil))
}

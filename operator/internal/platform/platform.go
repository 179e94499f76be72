// Package platform builds the connection a provider driver needs from a
// PlatformReference: the management URL, an HTTP client with Keyport's
// outbound rules (the process's outbound policy) and the referenced
// ApiClient's CA bundle, and that ApiClient's current token, read from its
// output Secret.
package platform

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/drivers"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// NotReadyError says the referenced ApiClient has no usable token yet.
type NotReadyError struct{ Message string }

func (e *NotReadyError) Error() string { return e.Message }

// Connect resolves ref in namespace into a driver and its connection.
func Connect(ctx context.Context, c client.Reader, namespace string, ref *keyportv1.PlatformReference) (drivers.Driver, drivers.Conn, error) {
	d, err := drivers.Get(ref.Driver)
	if err != nil {
		return nil, drivers.Conn{}, err
	}
	ac := &keyportv1.ApiClient{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.ApiClientName}, ac); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, drivers.Conn{}, &NotReadyError{fmt.Sprintf("ApiClient %q does not exist", ref.ApiClientName)}
		}
		return nil, drivers.Conn{}, &NotReadyError{fmt.Sprintf("ApiClient %q: %v", ref.ApiClientName, err)}
	}
	if ac.Status.OutputSecretName == "" {
		return nil, drivers.Conn{}, &NotReadyError{fmt.Sprintf("ApiClient %q has no token yet", ref.ApiClientName)}
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ac.Status.OutputSecretName}, s); err != nil {
		return nil, drivers.Conn{}, &NotReadyError{fmt.Sprintf("ApiClient %q has no token Secret yet", ref.ApiClientName)}
	}
	tok, err := tokensecret.Parse(s.Data)
	if err != nil {
		return nil, drivers.Conn{}, &NotReadyError{fmt.Sprintf("ApiClient %q's token Secret is not usable: %v", ref.ApiClientName, err)}
	}
	// The opt-outs are the tenant's; they count only where the operator's
	// outbound policy (its flags) honours them.
	o := outbound.Options{AllowInsecureHTTP: ref.AllowInsecureHTTP}
	if t := ac.Spec.TLS; t != nil {
		o.AllowLinkLocal = t.AllowLinkLocal
		if t.CABundle != nil {
			ca := &corev1.Secret{}
			if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: t.CABundle.Name}, ca); err == nil {
				o.CABundle = ca.Data[t.CABundle.Key]
			}
		}
	}
	hc, err := outbound.NewClient(o)
	if err != nil {
		return nil, drivers.Conn{}, err
	}
	return d, drivers.Conn{BaseURL: ref.ManagementURL, HTTP: hc, Token: tok, Parameters: ref.Parameters}, nil
}

// Secrets names the Secrets that Connect reads through an ApiClient: its
// token Secret and, if it names one, its CA bundle.
func Secrets(ac *keyportv1.ApiClient) []string {
	var names []string
	if ac.Status.OutputSecretName != "" {
		names = append(names, ac.Status.OutputSecretName)
	}
	if t := ac.Spec.TLS; t != nil && t.CABundle != nil {
		names = append(names, t.CABundle.Name)
	}
	return names
}

package plugin

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// kind is one of Keyport's four resource kinds.
type kind struct {
	name    string // ApiClient
	aliases []string
	newObj  func() client.Object
}

var kinds = []kind{
	{"ApiClient", []string{"apiclient", "apiclients", "apic"}, func() client.Object { return &keyportv1.ApiClient{} }},
	{"M2MCertificate", []string{"m2mcertificate", "m2mcertificates", "m2mcert", "m2mcerts"}, func() client.Object { return &keyportv1.M2MCertificate{} }},
	{"IngestionChannel", []string{"ingestionchannel", "ingestionchannels", "ingch"}, func() client.Object { return &keyportv1.IngestionChannel{} }},
	{"NotificationChannel", []string{"notificationchannel", "notificationchannels", "notifch"}, func() client.Object { return &keyportv1.NotificationChannel{} }},
}

// resolveKind maps what a user types (ApiClient, apiclients, apic,
// apiclients.keyport.dev) to a kind.
func resolveKind(s string) (kind, error) {
	l := strings.ToLower(s)
	l = strings.TrimSuffix(l, "."+strings.ToLower(keyportv1.GroupVersion.Group))
	l = strings.TrimSuffix(l, "."+strings.ToLower(keyportv1.GroupVersion.Version+"."+keyportv1.GroupVersion.Group))
	for _, k := range kinds {
		for _, a := range k.aliases {
			if l == a {
				return k, nil
			}
		}
	}
	return kind{}, fmt.Errorf("unknown kind %q: use apiclient (apic), m2mcertificate (m2mcert), ingestionchannel (ingch) or notificationchannel (notifch)", s)
}

// kindAndName reads KIND NAME or KIND/NAME from the arguments.
func kindAndName(args []string) (kind, string, error) {
	var k, name string
	switch {
	case len(args) == 1 && strings.Count(args[0], "/") == 1:
		k, name, _ = strings.Cut(args[0], "/")
	case len(args) == 2:
		k, name = args[0], args[1]
	default:
		return kind{}, "", fmt.Errorf("expected KIND NAME (or KIND/NAME), for example: apiclient port-api")
	}
	if name == "" {
		return kind{}, "", fmt.Errorf("expected a name after the kind %q", k)
	}
	kd, err := resolveKind(k)
	return kd, name, err
}

// get reads one object of kind k, with an error that names what is missing.
func (s *session) get(ctx context.Context, k kind, name string) (client.Object, error) {
	obj := k.newObj()
	if err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%s %q not found in namespace %q", k.name, name, s.namespace)
		}
		return nil, fmt.Errorf("get %s %q: %w", k.name, name, err)
	}
	return obj, nil
}

// The output Secret of each kind: the name in the status when the operator
// has written one, else the name the operator will use.

func apiClientSecretName(ac *keyportv1.ApiClient) string {
	var inSpec string
	if ac.Spec.Output != nil {
		inSpec = ac.Spec.Output.SecretName
	}
	return outputSecret(ac.Status.OutputSecretName, inSpec, ac.Name+"-token")
}

func m2mCertificateSecretName(m *keyportv1.M2MCertificate) string {
	return outputSecret(m.Status.OutputSecretName, m.Spec.OutputSecretName, m.Name+"-tls")
}

func ingestionChannelSecretName(ch *keyportv1.IngestionChannel) string {
	return outputSecret(ch.Status.OutputSecretName, ch.Spec.OutputSecretName, ch.Name+"-channel")
}

// notificationChannelSecretName is "" for a channel whose webhook
// credentials Keyport does not generate.
func notificationChannelSecretName(nc *keyportv1.NotificationChannel) string {
	return outputSecret(nc.Status.GeneratedSecretName, nc.Spec.Authentication.GeneratedSecretName, "")
}

// outputSecret is the first name given: the status's, the spec's, the
// operator's default.
func outputSecret(inStatus, inSpec, byDefault string) string {
	switch {
	case inStatus != "":
		return inStatus
	case inSpec != "":
		return inSpec
	}
	return byDefault
}

package plugin

import (
	"context"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/conditions"
)

// Annotations the operator writes that are not part of the API package:
// status shows them because they answer "has my forced refresh happened"
// and "when does the webhook credential switch".
const (
	annotationIssuedAt       = "keyport.dev/issued-at"
	annotationRefreshHandled = "keyport.dev/refresh-handled"
	annotationPlatformSwitch = "keyport.dev/platform-switch-at"
	annotationPreviousUntil  = "keyport.dev/previous-valid-until"
	annotationRotate         = "keyport.dev/rotate-credentials"

	// defaultExpiryWarning is M2MCertificate's spec.expiryWarning default.
	defaultExpiryWarning = 720 * time.Hour
)

// A describer fills the kind-specific parts of a report: what its validity
// is of, and the facts describe adds; describe returns the name of the
// output Secret ("" when there is none).
type describer struct {
	validityOf string
	describe   func(ctx context.Context, s *session, obj client.Object, r *statusReport) string
}

var describers = map[string]describer{
	"ApiClient":           {"token", describeApiClient},
	"M2MCertificate":      {"certificate", describeM2MCertificate},
	"IngestionChannel":    {"token", describeIngestionChannel},
	"NotificationChannel": {"registration and webhook credentials", describeNotificationChannel},
}

func describeApiClient(ctx context.Context, s *session, obj client.Object, r *statusReport) string {
	ac := obj.(*keyportv1.ApiClient)
	name := apiClientSecretName(ac)
	ann := s.secretAnnotations(ctx, name)

	r.Validity = appendTime(r.Validity, "expires", ann[keyportv1.AnnotationExpiresAt], "Secret annotation "+keyportv1.AnnotationExpiresAt)
	if ac.Status.TokenExpiresAt != nil && ann[keyportv1.AnnotationExpiresAt] == "" {
		r.Validity = appendMetaTime(r.Validity, "expires", ac.Status.TokenExpiresAt, "status.tokenExpiresAt")
	}
	if ann[annotationIssuedAt] != "" {
		r.Validity = appendTime(r.Validity, "obtained", ann[annotationIssuedAt], "Secret annotation "+annotationIssuedAt)
	} else {
		r.Validity = appendMetaTime(r.Validity, "obtained", ac.Status.LastRefreshTime, "status.lastRefreshTime")
	}
	switch {
	case ac.Spec.Suspend:
		r.Validity = append(r.Validity, fact{Label: "next refresh", Value: "none: spec.suspend is true"})
	case ann[keyportv1.AnnotationRefreshAt] != "":
		// The Secret is rewritten only with a new token: after a failed
		// refresh its time has passed and the status holds the retry.
		planned, err := time.Parse(time.RFC3339, ann[keyportv1.AnnotationRefreshAt])
		if retry := ac.Status.NextRefreshTime; err == nil && planned.Before(s.now) && retry != nil && retry.After(planned) {
			r.Validity = appendTime(r.Validity, "planned refresh", ann[keyportv1.AnnotationRefreshAt], "Secret annotation "+keyportv1.AnnotationRefreshAt)
			r.Validity = appendMetaTime(r.Validity, "next attempt", retry, "status.nextRefreshTime")
			break
		}
		r.Validity = appendTime(r.Validity, "next refresh", ann[keyportv1.AnnotationRefreshAt], "Secret annotation "+keyportv1.AnnotationRefreshAt)
	default:
		r.Validity = appendMetaTime(r.Validity, "next refresh", ac.Status.NextRefreshTime, "status.nextRefreshTime")
	}
	if want := ac.Annotations[keyportv1.AnnotationRefresh]; want != "" {
		state := "pending"
		if ann[annotationRefreshHandled] == want {
			state = "done"
		}
		r.Validity = append(r.Validity, fact{Label: "forced refresh", Value: want + ": " + state, Source: "annotation " + keyportv1.AnnotationRefresh})
	}
	if ac.Status.ConsecutiveFailures > 0 {
		r.Validity = append(r.Validity, fact{Label: "consecutive failures", Value: itoa(int64(ac.Status.ConsecutiveFailures))})
	}
	if ac.Status.CertificateThumbprint != "" {
		r.Validity = append(r.Validity, fact{Label: "client certificate", Value: ac.Status.CertificateThumbprint, Source: "SHA-1 thumbprint"})
	}

	if c := ac.Spec.Credentials; c != nil {
		r.Uses = append(r.Uses, s.secretRef(ctx, c.SecretName, "spec.credentials", r))
	}
	for _, h := range ac.Spec.Headers {
		if h.ValueFrom != nil {
			r.Uses = append(r.Uses, s.secretRef(ctx, h.ValueFrom.Name, "header "+h.Name, r))
		}
	}
	if t := ac.Spec.TLS; t != nil && t.CABundle != nil {
		r.Uses = append(r.Uses, s.secretRef(ctx, t.CABundle.Name, "spec.tls.caBundle", r))
	}
	if c := ac.Spec.ClientCertificate; c != nil {
		if c.M2MCertificateName != "" {
			r.Uses = append(r.Uses, s.keyportRef(ctx, "m2mcertificate", c.M2MCertificateName, "spec.clientCertificate", r))
		} else {
			r.Uses = append(r.Uses, s.secretRef(ctx, c.SecretName, "spec.clientCertificate", r))
		}
	}

	ings := &keyportv1.IngestionChannelList{}
	if s.list(ctx, ings, "IngestionChannels", r) {
		for _, ch := range ings.Items {
			if ch.Spec.ApiClientName == ac.Name {
				r.ReferencedBy = append(r.ReferencedBy, refTo("IngestionChannel", &ch, "spec.apiClientName"))
			} else if ch.Spec.Platform != nil && ch.Spec.Platform.ApiClientName == ac.Name {
				r.ReferencedBy = append(r.ReferencedBy, refTo("IngestionChannel", &ch, "spec.platform.apiClientName"))
			}
		}
	}
	ncs := &keyportv1.NotificationChannelList{}
	if s.list(ctx, ncs, "NotificationChannels", r) {
		for _, nc := range ncs.Items {
			if nc.Spec.Platform.ApiClientName == ac.Name {
				r.ReferencedBy = append(r.ReferencedBy, refTo("NotificationChannel", &nc, "spec.platform.apiClientName"))
			}
		}
	}
	certs := &keyportv1.M2MCertificateList{}
	if s.list(ctx, certs, "M2MCertificates", r) {
		for _, m := range certs.Items {
			if m.Spec.Registration != nil && m.Spec.Registration.ApiClientName == ac.Name {
				r.ReferencedBy = append(r.ReferencedBy, refTo("M2MCertificate", &m, "spec.registration.apiClientName"))
			}
		}
	}
	return name
}

func describeM2MCertificate(ctx context.Context, s *session, obj client.Object, r *statusReport) string {
	m := obj.(*keyportv1.M2MCertificate)
	name := m2mCertificateSecretName(m)
	ann := s.secretAnnotations(ctx, name)
	st := m.Status

	if st.Subject != "" {
		r.Validity = append(r.Validity, fact{Label: "subject", Value: st.Subject}, fact{Label: "issuer", Value: st.Issuer})
	}
	r.Validity = appendMetaTime(r.Validity, "not before", st.NotBefore, "status.notBefore")
	if st.NotAfter != nil {
		r.Validity = appendMetaTime(r.Validity, "not after", st.NotAfter, "status.notAfter")
		warning := defaultExpiryWarning
		if m.Spec.ExpiryWarning != nil {
			warning = m.Spec.ExpiryWarning.Duration
		}
		from := st.NotAfter.Add(-warning).UTC()
		r.Validity = append(r.Validity, fact{Label: "expiry warning from", Time: &from, Source: "notAfter − spec.expiryWarning"})
	} else {
		r.Validity = appendTime(r.Validity, "not after", ann[keyportv1.AnnotationExpiresAt], "Secret annotation "+keyportv1.AnnotationExpiresAt)
	}
	if st.SHA1Thumbprint != "" {
		r.Validity = append(r.Validity, fact{Label: "SHA-1 thumbprint", Value: st.SHA1Thumbprint},
			fact{Label: "SHA-256 fingerprint", Value: st.SHA256Fingerprint})
	}
	if st.RegistrationID != "" {
		r.Validity = append(r.Validity, fact{Label: "registration", Value: st.RegistrationID, Source: "the platform's id"})
	}

	switch {
	case m.Spec.CertManager != nil:
		certName := st.CertificateName
		if certName == "" {
			certName = m.Name
		}
		renewal, ready, found := s.certManagerCertificate(ctx, certName, r)
		if renewal != nil {
			r.Validity = append(r.Validity, fact{Label: "next renewal", Time: renewal, Source: "cert-manager Certificate " + certName + " status.renewalTime"})
		}
		x := ref{Kind: "Certificate.cert-manager.io", Name: certName, Via: "spec.certManager", Found: found, Ready: ready}
		r.Uses = append(r.Uses, x)
	case m.Spec.PKCS12 != nil:
		r.Validity = append(r.Validity, fact{Label: "next renewal", Value: "none: Keyport cannot renew an imported bundle; replace it before not after"})
		r.Uses = append(r.Uses, s.secretRef(ctx, m.Spec.PKCS12.SecretName, "spec.pkcs12", r))
		if m.Spec.PKCS12.Passphrase.Name != m.Spec.PKCS12.SecretName {
			r.Uses = append(r.Uses, s.secretRef(ctx, m.Spec.PKCS12.Passphrase.Name, "spec.pkcs12.passphrase", r))
		}
	case m.Spec.SecretRef != nil:
		r.Validity = append(r.Validity, fact{Label: "next renewal", Value: "none: whoever writes Secret " + m.Spec.SecretRef.Name + " renews it"})
		r.Uses = append(r.Uses, s.secretRef(ctx, m.Spec.SecretRef.Name, "spec.secretRef", r))
	}
	if reg := m.Spec.Registration; reg != nil {
		r.Uses = append(r.Uses, s.keyportRef(ctx, "apiclient", reg.ApiClientName, "spec.registration", r))
	}

	acs := &keyportv1.ApiClientList{}
	if s.list(ctx, acs, "ApiClients", r) {
		for _, ac := range acs.Items {
			if c := ac.Spec.ClientCertificate; c != nil && c.M2MCertificateName == m.Name {
				r.ReferencedBy = append(r.ReferencedBy, refTo("ApiClient", &ac, "spec.clientCertificate"))
			}
		}
	}
	return name
}

func describeIngestionChannel(ctx context.Context, s *session, obj client.Object, r *statusReport) string {
	ch := obj.(*keyportv1.IngestionChannel)
	name := ingestionChannelSecretName(ch)
	ann := s.secretAnnotations(ctx, name)

	if ch.Status.URL != "" {
		r.Validity = append(r.Validity, fact{Label: "channel URL", Value: ch.Status.URL})
	}
	if ann[keyportv1.AnnotationExpiresAt] != "" {
		r.Validity = appendTime(r.Validity, "expires", ann[keyportv1.AnnotationExpiresAt], "Secret annotation "+keyportv1.AnnotationExpiresAt)
	} else {
		r.Validity = appendMetaTime(r.Validity, "expires", ch.Status.TokenExpiresAt, "status.tokenExpiresAt")
	}
	// The channel's Secret carries its ApiClient's token: it is refreshed
	// when the ApiClient's is.
	if ac := &(keyportv1.ApiClient{}); s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: ch.Spec.ApiClientName}, ac) == nil {
		acAnn := s.secretAnnotations(ctx, apiClientSecretName(ac))
		r.Validity = appendTime(r.Validity, "next refresh", acAnn[keyportv1.AnnotationRefreshAt], "ApiClient "+ac.Name+"'s, which this channel follows")
	}
	r.Validity = appendMetaTime(r.Validity, "last verified", ch.Status.LastVerifiedTime, "status.lastVerifiedTime")

	r.Uses = append(r.Uses, s.keyportRef(ctx, "apiclient", ch.Spec.ApiClientName, "spec.apiClientName", r))
	if p := ch.Spec.Platform; p != nil && p.ApiClientName != ch.Spec.ApiClientName {
		r.Uses = append(r.Uses, s.keyportRef(ctx, "apiclient", p.ApiClientName, "spec.platform.apiClientName", r))
	}
	return name
}

func describeNotificationChannel(ctx context.Context, s *session, obj client.Object, r *statusReport) string {
	nc := obj.(*keyportv1.NotificationChannel)
	name := notificationChannelSecretName(nc)

	if nc.Status.ChannelID != "" {
		r.Validity = append(r.Validity, fact{Label: "channel id", Value: nc.Status.ChannelID, Source: "the platform's id"})
	}
	r.Validity = append(r.Validity, fact{Label: "webhook", Value: nc.Spec.WebhookURL},
		fact{Label: "authentication", Value: string(nc.Spec.Authentication.Type)})
	r.Validity = appendMetaTime(r.Validity, "last synced", nc.Status.LastSyncedTime, "status.lastSyncedTime")
	if name != "" {
		ann := s.secretAnnotations(ctx, name)
		r.Validity = append(r.Validity, fact{Label: "credentials", Value: "generated by Keyport; they do not expire, rotate them with the annotation " + annotationRotate})
		r.Validity = appendTime(r.Validity, "platform switches to the new credential", ann[annotationPlatformSwitch], "Secret annotation "+annotationPlatformSwitch)
		r.Validity = appendTime(r.Validity, "previous credential valid until", ann[annotationPreviousUntil], "Secret annotation "+annotationPreviousUntil)
	}

	r.Uses = append(r.Uses, s.keyportRef(ctx, "apiclient", nc.Spec.Platform.ApiClientName, "spec.platform.apiClientName", r))
	auth := nc.Spec.Authentication
	if auth.BearerToken != nil {
		r.Uses = append(r.Uses, s.secretRef(ctx, auth.BearerToken.Name, "spec.authentication.bearerToken", r))
	}
	if o := auth.OAuth2; o != nil {
		if o.ClientSecret != nil {
			r.Uses = append(r.Uses, s.secretRef(ctx, o.ClientSecret.Name, "spec.authentication.oauth2.clientSecret", r))
		}
		if o.Password != nil {
			r.Uses = append(r.Uses, s.secretRef(ctx, o.Password.Name, "spec.authentication.oauth2.password", r))
		}
	}
	for _, h := range nc.Spec.Headers {
		if h.ValueFrom != nil {
			r.Uses = append(r.Uses, s.secretRef(ctx, h.ValueFrom.Name, "header "+h.Name, r))
		}
	}
	return name
}

// secretAnnotations reads a Secret's annotations (nil when it is absent).
func (s *session) secretAnnotations(ctx context.Context, name string) map[string]string {
	m, err := s.secretMeta(ctx, name)
	if err != nil {
		return nil
	}
	return m.Annotations
}

// certManagerCertificate reads the renewal time and readiness of a
// cert-manager Certificate without depending on cert-manager's Go types.
func (s *session) certManagerCertificate(ctx context.Context, name string, r *statusReport) (renewal *time.Time, ready string, found bool) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"})
	if err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: name}, u); err != nil {
		if !meta404(err) {
			r.Notes = append(r.Notes, "cannot read cert-manager Certificate "+name+": "+reasonOf(err))
		}
		return nil, "", false
	}
	if v, ok, _ := unstructured.NestedString(u.Object, "status", "renewalTime"); ok {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			t = t.UTC()
			renewal = &t
		}
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
			ready, _ = m["status"].(string)
		}
	}
	return renewal, ready, true
}

// meta404 is an object that does not exist, or a kind the cluster does not
// serve (cert-manager not installed).
func meta404(err error) bool {
	return apimeta.IsNoMatchError(err) || isNotFound(err)
}

func refTo(kind string, obj client.Object, via string) ref {
	x := ref{Kind: kind, Name: obj.GetName(), Via: via, Found: true}
	if c := conditions.ReadyOf(obj); c != nil {
		x.Ready, x.Reason = string(c.Status), c.Reason
	}
	return x
}

// readyOf is the Ready condition of any Keyport resource.
func readyOf(obj client.Object) (status, reason string) {
	if c := conditions.ReadyOf(obj); c != nil {
		return string(c.Status), c.Reason
	}
	return "", ""
}

// appendTime adds a fact from an RFC 3339 annotation value; an absent or
// unreadable value adds nothing.
func appendTime(facts []fact, label, value, source string) []fact {
	if value == "" {
		return facts
	}
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return append(facts, fact{Label: label, Value: "unreadable", Source: source})
	}
	t = t.UTC()
	return append(facts, fact{Label: label, Time: &t, Source: source})
}

func appendMetaTime(facts []fact, label string, t *metav1.Time, source string) []fact {
	if t == nil || t.IsZero() {
		return facts
	}
	u := t.UTC()
	return append(facts, fact{Label: label, Time: &u, Source: source})
}

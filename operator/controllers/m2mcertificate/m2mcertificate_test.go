package m2mcertificate_test

import (
	"context"
	"crypto/sha1" //nolint:gosec // recomputing the thumbprint independently
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"software.sslmate.com/src/go-pkcs12"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/apiclient"
	"github.com/keyport-dev/keyport/operator/controllers/m2mcertificate"
	"github.com/keyport-dev/keyport/shared/certs"
	_ "github.com/keyport-dev/keyport/shared/drivers/restdriver"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/certmanager"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/optest"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

var (
	env *testenv.Env
	sb  *sandbox.Sandbox
)

const (
	clientID     = "bank-app"
	clientSecret = "bank-client-secret-1"
	username     = "m2m-user"
	password     = "m2m-password-9!"
	passphrase   = "provider passphrase 42"
)

func TestMain(m *testing.M) {
	var err error
	sb, err = sandbox.Start(sandbox.Config{
		Clients: []sandbox.Client{{ID: clientID, Secret: clientSecret, Username: username, Password: password}},
		Seed:    5, M2MTokenLifetime: 5 * time.Minute,
	})
	if err != nil {
		panic(err)
	}
	e, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env = e
	ctx, cancel := context.WithCancel(context.Background())
	if err := certmanager.Start(ctx, env, "kube-system"); err != nil {
		fmt.Fprintln(os.Stderr, "start cert-manager:", err)
		os.Exit(1)
	}
	code := m.Run()
	cancel()
	_ = env.Stop()
	os.Exit(code)
}

// start runs the M2MCertificate and ApiClient controllers for ns.
func start(t *testing.T, ns string) {
	t.Helper()
	optest.Start(t, env, ns, func(mgr ctrl.Manager) error {
		if err := (&m2mcertificate.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("keyport-m2mcertificate")}).SetupWithManager(mgr); err != nil {
			return err
		}
		return (&apiclient.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("keyport-apiclient"),
			MACKey: []byte("0123456789abcdef0123456789abcdef")}).SetupWithManager(mgr)
	})
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func getCert(t *testing.T, ns, name string) *keyportv1.M2MCertificate {
	t.Helper()
	m := &keyportv1.M2MCertificate{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, m); err != nil {
		t.Fatal(err)
	}
	return m
}

func describe(conds []metav1.Condition) string {
	var b strings.Builder
	for _, c := range conds {
		fmt.Fprintf(&b, "%s=%s %s (%s); ", c.Type, c.Status, c.Reason, c.Message)
	}
	return b.String()
}

// waitCondition waits for a condition of the current generation.
func waitCondition(t *testing.T, ns, name, condType string, status metav1.ConditionStatus, reason string) *keyportv1.M2MCertificate {
	t.Helper()
	var m *keyportv1.M2MCertificate
	optest.Eventually(t, 60*time.Second, fmt.Sprintf("%s %s=%s %s", name, condType, status, reason), func() (bool, string) {
		m = getCert(t, ns, name)
		c := apimeta.FindStatusCondition(m.Status.Conditions, condType)
		return c != nil && c.Status == status && (reason == "" || c.Reason == reason) && c.ObservedGeneration == m.Generation, describe(m.Status.Conditions)
	})
	return m
}

func thumbprint(c *x509.Certificate) string {
	return fmt.Sprintf("%X", sha1.Sum(c.Raw)) //nolint:gosec
}

func bundleSecret(ns, name string, data []byte, pass string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Data: map[string][]byte{"bundle.p12": data, "passphrase": []byte(pass)}}
}

// providerBundle issues a certificate for username from a fresh CA and
// bundles it with its key under passphrase, as the bank's provider does.
func providerBundle(t *testing.T) (*certstest.Cert, []byte) {
	t.Helper()
	ca, err := certstest.NewCA("provider")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(username, certstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, nil, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	return leaf, bundle
}

func pkcs12Cert(ns, name, secret string) *keyportv1.M2MCertificate {
	return &keyportv1.M2MCertificate{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: keyportv1.M2MCertificateSpec{PKCS12: &keyportv1.PKCS12Source{SecretName: secret,
			Passphrase: keyportv1.SecretKeySelector{Name: secret, Key: "passphrase"}}}}
}

func TestPKCS12BundlesInEveryEncryptionBecomeATLSSecret(t *testing.T) {
	ns := env.Namespace(t)
	start(t, ns)
	root, _ := certstest.NewCA("provider root")
	inter, _ := root.Intermediate("provider issuing CA")
	for name, enc := range map[string]*pkcs12.Encoder{"rc2": pkcs12.LegacyRC2, "3des": pkcs12.LegacyDES, "aes": pkcs12.Modern} {
		t.Run(name, func(t *testing.T) {
			leaf, _ := inter.Issue(username, certstest.Options{KeyType: certstest.RSA})
			data, err := enc.Encode(leaf.Key, leaf.Cert, []*x509.Certificate{inter.Cert, root.Cert}, passphrase)
			if err != nil {
				t.Fatal(err)
			}
			create(t, bundleSecret(ns, "bundle-"+name, data, passphrase))
			create(t, pkcs12Cert(ns, "cert-"+name, "bundle-"+name))
			m := waitCondition(t, ns, "cert-"+name, keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonCertificateImported)

			if m.Status.SHA1Thumbprint != thumbprint(leaf.Cert) {
				t.Errorf("status thumbprint %q, want %q", m.Status.SHA1Thumbprint, thumbprint(leaf.Cert))
			}
			if m.Status.SHA256Fingerprint != certs.Fingerprint256(leaf.Cert) || m.Status.Subject != "CN="+username ||
				!strings.Contains(m.Status.Issuer, "provider issuing CA") || m.Status.NotAfter == nil || m.Status.SerialNumber == "" {
				t.Errorf("status %+v", m.Status)
			}
			out := &corev1.Secret{}
			if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "cert-" + name + "-tls"}, out); err != nil {
				t.Fatal(err)
			}
			if out.Type != corev1.SecretTypeTLS || !metav1.IsControlledBy(out, m) {
				t.Errorf("output Secret type %s, owned %v", out.Type, metav1.IsControlledBy(out, m))
			}
			b, err := certs.DecodePEM(out.Data["tls.crt"], out.Data["tls.key"])
			if err != nil {
				t.Fatalf("the output Secret is not a usable TLS pair: %v", err)
			}
			if !b.Leaf.Equal(leaf.Cert) || len(b.Chain) != 1 || !b.Chain[0].Equal(inter.Cert) {
				t.Error("tls.crt should hold the leaf and its intermediate")
			}
			cas, _ := certs.DecodeCertificatesPEM(out.Data["ca.crt"])
			if len(cas) != 1 || !cas[0].Equal(root.Cert) {
				t.Error("ca.crt should hold the root")
			}
		})
	}
}

func TestBrokenBundlesAreReportedAndFixable(t *testing.T) {
	ns := env.Namespace(t)
	start(t, ns)
	leaf, good := providerBundle(t)
	keyless, _ := pkcs12.Modern.EncodeTrustStore([]*x509.Certificate{leaf.Cert}, passphrase)

	create(t, bundleSecret(ns, "wrong-pass", good, "not the passphrase"))
	create(t, pkcs12Cert(ns, "wrong-pass", "wrong-pass"))
	waitCondition(t, ns, "wrong-pass", keyportv1.ConditionReady, metav1.ConditionFalse, keyportv1.ReasonWrongPassphrase)

	create(t, bundleSecret(ns, "keyless", keyless, passphrase))
	create(t, pkcs12Cert(ns, "keyless", "keyless"))
	waitCondition(t, ns, "keyless", keyportv1.ConditionReady, metav1.ConditionFalse, keyportv1.ReasonBundleWithoutKey)

	// The user fixes the passphrase: the watch on the source Secret picks it up.
	s := &corev1.Secret{}
	_ = env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "wrong-pass"}, s)
	s.Data["passphrase"] = []byte(passphrase)
	if err := env.Client.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, ns, "wrong-pass", keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonCertificateImported)

	var events corev1.EventList
	_ = env.Client.List(context.Background(), &events, client.InNamespace(ns))
	for _, e := range events.Items {
		if strings.Contains(e.Message, passphrase) || strings.Contains(e.Message, "not the passphrase") {
			t.Errorf("an event quotes a passphrase: %s", e.Message)
		}
	}
	for _, name := range []string{"wrong-pass", "keyless"} {
		if strings.Contains(describe(getCert(t, ns, name).Status.Conditions), passphrase) {
			t.Errorf("status of %s quotes the passphrase", name)
		}
	}
}

func TestExpiryIsWarnedInTime(t *testing.T) {
	ns := env.Namespace(t)
	start(t, ns)
	ca, _ := certstest.NewCA("provider")
	soon, _ := ca.Issue("soon", certstest.Options{NotAfter: time.Now().Add(10 * 24 * time.Hour)})
	gone, _ := ca.Issue("gone", certstest.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	for name, c := range map[string]*certstest.Cert{"soon": soon, "gone": gone} {
		data, _ := pkcs12.Modern.Encode(c.Key, c.Cert, nil, passphrase)
		create(t, bundleSecret(ns, name, data, passphrase))
		create(t, pkcs12Cert(ns, name, name))
	}
	m := waitCondition(t, ns, "soon", keyportv1.ConditionExpiringSoon, metav1.ConditionTrue, keyportv1.ReasonCertificateExpiring)
	if c := apimeta.FindStatusCondition(m.Status.Conditions, keyportv1.ConditionExpiringSoon); !strings.Contains(c.Message, "supply a new bundle") {
		t.Errorf("the warning does not say what to do: %q", c.Message)
	}
	waitCondition(t, ns, "gone", keyportv1.ConditionReady, metav1.ConditionFalse, keyportv1.ReasonCertificateExpired)
	optest.Eventually(t, 10*time.Second, "a Warning event for the expiring certificate", func() (bool, string) {
		var events corev1.EventList
		_ = env.Client.List(context.Background(), &events, client.InNamespace(ns))
		for _, e := range events.Items {
			if e.Type == corev1.EventTypeWarning && e.Reason == keyportv1.ReasonCertificateExpiring && e.InvolvedObject.Name == "soon" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(events.Items))
	})
}

// TestBankM2MWithAnImportedBundle is the bank's M2M API end to end: a provider-issued
// PKCS#12 goes in, the ApiClient gets 5-minute tokens over mutual TLS with a
// GET and Basic credentials, and the token binds the certificate thumbprint.
func TestBankM2MWithAnImportedBundle(t *testing.T) {
	ns := env.Namespace(t)
	start(t, ns)
	certPEM, keyPEM, _ := sb.IssueClientCert(username)
	b, err := certs.DecodePEM(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := pkcs12.LegacyDES.Encode(b.Key, b.Leaf, nil, passphrase)
	create(t, bundleSecret(ns, "bank-bundle", data, passphrase))
	create(t, pkcs12Cert(ns, "bank-m2m", "bank-bundle"))
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bank-credentials", Namespace: ns},
		StringData: map[string]string{"username": username, "password": password}})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": sb.CACertPEM()}})
	create(t, &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: "bank", Namespace: ns}, Spec: keyportv1.ApiClientSpec{
		Preset: keyportv1.PresetBankM2M, TokenURL: sb.URL() + "/m2m/token",
		Credentials:       &keyportv1.CredentialsSource{SecretName: "bank-credentials"},
		ClientCertificate: &keyportv1.ClientCertificateReference{M2MCertificateName: "bank-m2m"},
		TLS:               &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "sandbox-ca", Key: "ca.crt"}},
	}})
	m := waitCondition(t, ns, "bank-m2m", keyportv1.ConditionReady, metav1.ConditionTrue, "")
	tok := waitToken(t, ns, "bank-token", "")
	if life := time.Until(tok.ExpiresAt); life > 5*time.Minute || life < 4*time.Minute {
		t.Errorf("token lives %v, want the bank's 5 minutes", life)
	}
	claims, err := sb.Validate(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Thumbprint != m.Status.SHA1Thumbprint || claims.Thumbprint != thumbprint(b.Leaf) {
		t.Errorf("token thumbprint %q, certificate %q", claims.Thumbprint, m.Status.SHA1Thumbprint)
	}
	// A forced refresh gets the next token the same way.
	ac := &keyportv1.ApiClient{}
	_ = env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "bank"}, ac)
	patch := client.MergeFrom(ac.DeepCopy())
	ac.Annotations = map[string]string{keyportv1.AnnotationRefresh: "1"}
	if err := env.Client.Patch(context.Background(), ac, patch); err != nil {
		t.Fatal(err)
	}
	waitToken(t, ns, "bank-token", tok.AccessToken)
}

// waitToken waits for a token in the Secret other than previous.
func waitToken(t *testing.T, ns, secret, previous string) tokensecret.Token {
	t.Helper()
	var tok tokensecret.Token
	optest.Eventually(t, 30*time.Second, "a token in "+secret, func() (bool, string) {
		s := &corev1.Secret{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: secret}, s); err != nil {
			return false, err.Error()
		}
		var err error
		tok, err = tokensecret.Parse(s.Data)
		return err == nil && tok.AccessToken != previous, "no new token"
	})
	return tok
}

// TestCertManagerIssuesRenewsAndConsumersFollow runs the real cert-manager
// controllers: Keyport's Certificate is issued by a self-signed Issuer,
// registered with the platform, used by an ApiClient for tls_client_auth;
// after a forced renewal the thumbprint, the output Secret, the registration
// and the ApiClient's next token all follow.
func TestCertManagerIssuesRenewsAndConsumersFollow(t *testing.T) {
	ns := env.Namespace(t)
	start(t, ns)
	ctx := context.Background()
	create(t, &cmapi.Issuer{ObjectMeta: metav1.ObjectMeta{Name: "self", Namespace: ns},
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}}})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
		StringData: map[string]string{"client_id": clientID, "client_secret": clientSecret}})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": sb.CACertPEM()}})
	caRef := &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "sandbox-ca", Key: "ca.crt"}}
	// The bootstrap client authenticates the management API with its secret.
	create(t, &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: "bootstrap", Namespace: ns}, Spec: keyportv1.ApiClientSpec{
		TokenURL: sb.URL() + "/connect/token", Credentials: &keyportv1.CredentialsSource{SecretName: "creds"}, TLS: caRef}})
	create(t, &keyportv1.M2MCertificate{ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: ns}, Spec: keyportv1.M2MCertificateSpec{
		CertManager:  &keyportv1.CertManagerSource{IssuerRef: keyportv1.IssuerReference{Name: "self"}, CommonName: clientID},
		Registration: &keyportv1.PlatformReference{Driver: sandbox.Driver, ApiClientName: "bootstrap", ManagementURL: sb.URL(), Parameters: sandbox.DriverParameters()},
	}})
	create(t, &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: "mtls", Namespace: ns}, Spec: keyportv1.ApiClientSpec{
		TokenURL: sb.URL() + "/connect/token", ClientAuthentication: keyportv1.TLSClientAuth, ClientID: clientID,
		ClientCertificate: &keyportv1.ClientCertificateReference{M2MCertificateName: "client"}, TLS: caRef}})

	m := waitCondition(t, ns, "client", keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonCertificateIssued)
	first, firstReg := m.Status.SHA1Thumbprint, m.Status.RegistrationID
	if first == "" || firstReg == "" || m.Status.CertificateName != "client" {
		t.Fatalf("status %+v", m.Status)
	}
	tok := waitToken(t, ns, "mtls-token", "")

	// Force a renewal the way `cmctl renew` does.
	crt := &cmapi.Certificate{}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "client"}, crt); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(crt.DeepCopy())
	crt.Status.Conditions = append(crt.Status.Conditions, cmapi.CertificateCondition{Type: cmapi.CertificateConditionIssuing,
		Status: cmmeta.ConditionTrue, Reason: "ManuallyTriggered", Message: "renewal forced by the test", LastTransitionTime: ptrTime(metav1.Now())})
	if err := env.Client.Status().Patch(ctx, crt, patch); err != nil {
		t.Fatal(err)
	}
	var renewed *keyportv1.M2MCertificate
	optest.Eventually(t, 60*time.Second, "a renewed certificate", func() (bool, string) {
		renewed = getCert(t, ns, "client")
		return renewed.Status.SHA1Thumbprint != "" && renewed.Status.SHA1Thumbprint != first, describe(renewed.Status.Conditions)
	})
	if renewed.Status.RegistrationID == firstReg {
		t.Error("the renewed certificate was not registered with the platform")
	}
	out := &corev1.Secret{}
	_ = env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "client-tls"}, out)
	leaf, _ := certs.DecodeCertificatesPEM(out.Data["tls.crt"])
	if len(leaf) == 0 || thumbprint(leaf[0]) != renewed.Status.SHA1Thumbprint {
		t.Error("the output Secret does not hold the renewed certificate")
	}
	// The ApiClient's next token comes over the new certificate.
	next := waitToken(t, ns, "mtls-token", tok.AccessToken)
	if _, err := sb.Validate(next.AccessToken); err != nil {
		t.Fatal(err)
	}
	optest.Eventually(t, 20*time.Second, "the ApiClient reporting the new thumbprint", func() (bool, string) {
		ac := &keyportv1.ApiClient{}
		_ = env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "mtls"}, ac)
		return ac.Status.CertificateThumbprint == renewed.Status.SHA1Thumbprint, ac.Status.CertificateThumbprint
	})
}

func ptrTime(t metav1.Time) *metav1.Time { return &t }

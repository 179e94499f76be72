package m2mcertificate_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"software.sslmate.com/src/go-pkcs12"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/m2mcertificate"
	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/optest"
)

func outputCert(t *testing.T, ns, name string) []byte {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s.Data[corev1.TLSCertKey]
}

func TestBundlesOverTheLimitsAreRefusedAndTheCertificateInUseStays(t *testing.T) {
	ns := env.Namespace(t)
	start(t, ns)
	leaf, good := providerBundle(t)
	create(t, bundleSecret(ns, "bank-bundle", good, passphrase))
	create(t, pkcs12Cert(ns, "bank-m2m", "bank-bundle"))
	waitCondition(t, ns, "bank-m2m", keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonCertificateImported)
	inUse := outputCert(t, ns, "bank-m2m-tls")

	// The tenant swaps in a bundle whose MAC asks for 4,194,303 iterations.
	expensive, err := certstest.PKCS12WithIterations(pkcs12.Modern2023, leaf, passphrase, certstest.MAC, 4_194_303)
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{}
	_ = env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "bank-bundle"}, s)
	s.Data["bundle.p12"] = expensive
	if err := env.Client.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	m := waitCondition(t, ns, "bank-m2m", keyportv1.ConditionDegraded, metav1.ConditionTrue, m2mcertificate.ReasonBundleTooExpensive)
	if c := apimeta.FindStatusCondition(m.Status.Conditions, keyportv1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("the certificate in use is still valid, yet Ready=%s", c.Status)
	}
	if !bytes.Equal(outputCert(t, ns, "bank-m2m-tls"), inUse) {
		t.Error("the refused bundle replaced the certificate in use")
	}

	// A new M2MCertificate whose bundle carries 150 CA certificates.
	root, _ := certstest.NewCA("provider root")
	issuer := root
	var cas []*x509.Certificate
	for i := range 149 {
		issuer, _ = issuer.Intermediate(fmt.Sprintf("provider CA %d", i))
		cas = append(cas, issuer.Cert)
	}
	deep, _ := issuer.Issue(username, certstest.Options{})
	many, _ := pkcs12.Modern.Encode(deep.Key, deep.Cert, append(cas, root.Cert), passphrase)
	create(t, bundleSecret(ns, "ca-store", many, passphrase))
	create(t, pkcs12Cert(ns, "ca-store", "ca-store"))
	waitCondition(t, ns, "ca-store", keyportv1.ConditionReady, metav1.ConditionFalse, m2mcertificate.ReasonBundleTooLarge)
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "ca-store-tls"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused bundle has an output Secret: %v", err)
	}
}

// startAcross runs r in one manager for several namespaces, as an operator
// watching them all does.
func startAcross(t *testing.T, r *m2mcertificate.Reconciler, namespaces ...string) {
	t.Helper()
	watched := map[string]cache.Config{}
	for _, ns := range namespaces {
		watched[ns] = cache.Config{}
	}
	skip := true
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: ctrlconfig.Controller{SkipNameValidation: &skip}, Cache: cache.Options{DefaultNamespaces: watched},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Client, r.Recorder = mgr.GetClient(), mgr.GetEventRecorderFor("keyport-m2mcertificate")
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestOneTenantsStalledBundleDoesNotHoldAnotherTenant(t *testing.T) {
	stalledNS, otherNS := env.Namespace(t), env.Namespace(t)
	stalls := []byte("a bundle whose decoding does not end")
	stalled, release := make(chan struct{}, 1), make(chan struct{})
	r := &m2mcertificate.Reconciler{} // the default workers
	m2mcertificate.SetPKCS12Decoder(r, func(data []byte, pass string) (*certs.Bundle, error) {
		if bytes.Equal(data, stalls) {
			select {
			case stalled <- struct{}{}:
			default:
			}
			<-release
			return nil, errors.New("released by the test")
		}
		return certs.DecodePKCS12(data, pass)
	})
	startAcross(t, r, stalledNS, otherNS)
	t.Cleanup(func() { close(release) }) // before the manager stops

	create(t, bundleSecret(stalledNS, "bundle", stalls, passphrase))
	create(t, pkcs12Cert(stalledNS, "stalled", "bundle"))
	select {
	case <-stalled:
	case <-time.After(30 * time.Second):
		t.Fatal("the stalled M2MCertificate was never reconciled")
	}

	_, good := providerBundle(t)
	create(t, bundleSecret(otherNS, "bundle", good, passphrase))
	create(t, pkcs12Cert(otherNS, "other", "bundle"))
	// The decode in the first namespace is still held: only another worker
	// can have done this.
	waitCondition(t, otherNS, "other", keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonCertificateImported)
}

func TestClusterIssuersAreUsedOnlyWhenTheAdminAllowsThem(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	// ClusterIssuers are cluster-wide: names of this test only.
	allowed, refused := "allowed-"+ns, "refused-"+ns
	for _, name := range []string{allowed, refused} {
		ci := &cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}}}
		create(t, ci)
		t.Cleanup(func() { _ = env.Client.Delete(ctx, ci) })
	}
	create(t, &cmapi.Issuer{ObjectMeta: metav1.ObjectMeta{Name: "own", Namespace: ns},
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}}})
	run := func(allowList ...string) *optest.Operator {
		return optest.Start(t, env, ns, func(mgr ctrl.Manager) error {
			return (&m2mcertificate.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("keyport-m2mcertificate"),
				AllowedClusterIssuers: allowList}).SetupWithManager(mgr)
		})
	}
	certFrom := func(name string, ref keyportv1.IssuerReference) *keyportv1.M2MCertificate {
		// The identity a tenant should not get from a cluster-wide CA.
		return &keyportv1.M2MCertificate{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: keyportv1.M2MCertificateSpec{
			CertManager: &keyportv1.CertManagerSource{IssuerRef: ref, CommonName: "payments-gateway", DNSNames: []string{"api.payments.internal"}}}}
	}
	op := run(allowed)
	create(t, certFrom("from-refused", keyportv1.IssuerReference{Name: refused, Kind: "ClusterIssuer"}))
	create(t, certFrom("from-allowed", keyportv1.IssuerReference{Name: allowed, Kind: "ClusterIssuer"}))
	create(t, certFrom("from-own", keyportv1.IssuerReference{Name: "own"}))

	m := waitCondition(t, ns, "from-refused", keyportv1.ConditionReady, metav1.ConditionFalse, m2mcertificate.ReasonIssuerNotAllowed)
	if c := apimeta.FindStatusCondition(m.Status.Conditions, keyportv1.ConditionReady); !strings.Contains(c.Message, refused) {
		t.Errorf("the condition does not name the ClusterIssuer: %q", c.Message)
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "from-refused"}, &cmapi.Certificate{}); !apierrors.IsNotFound(err) {
		t.Errorf("a Certificate exists for the refused ClusterIssuer: %v", err)
	}
	optest.Eventually(t, 10*time.Second, "a Warning event naming the refusal", func() (bool, string) {
		var events corev1.EventList
		_ = env.Client.List(ctx, &events, client.InNamespace(ns))
		for _, e := range events.Items {
			if e.Type == corev1.EventTypeWarning && e.Reason == m2mcertificate.ReasonIssuerNotAllowed && e.InvolvedObject.Name == "from-refused" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(events.Items))
	})
	waitCondition(t, ns, "from-allowed", keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonCertificateIssued)
	waitCondition(t, ns, "from-own", keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonCertificateIssued)

	// The admin takes the ClusterIssuer off the list: the Certificate goes
	// too, so that cert-manager stops renewing it.
	op.Stop()
	run()
	waitCondition(t, ns, "from-allowed", keyportv1.ConditionReady, metav1.ConditionFalse, m2mcertificate.ReasonIssuerNotAllowed)
	optest.Eventually(t, 20*time.Second, "the Certificate of a ClusterIssuer no longer allowed deleted", func() (bool, string) {
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "from-allowed"}, &cmapi.Certificate{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	waitCondition(t, ns, "from-own", keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonCertificateIssued)
}

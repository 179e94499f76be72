package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/jwks"
	"github.com/keyport-dev/keyport/operator/controllers/notificationchannel"
	"github.com/keyport-dev/keyport/operator/internal/conditions"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/optest"
)

// apiUse is one kind of API request, as RBAC authorizes it. resource
// includes the subresource (apiclients/status).
type apiUse struct{ namespace, group, resource, verb string }

func (u apiUse) String() string {
	where := "cluster-wide"
	if u.namespace != "" {
		where = "in " + u.namespace
	}
	return fmt.Sprintf("%s %s.%s %s", u.verb, u.resource, u.group, where)
}

// apiUses records the requests that clients of a rest.Config make
// (rest.Config.Wrap), and those the API server refused.
type apiUses struct {
	mu        sync.Mutex
	used      map[apiUse]bool
	forbidden []apiUse
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (u *apiUses) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		use, ok := useOf(req)
		resp, err := rt.RoundTrip(req)
		if ok {
			u.mu.Lock()
			u.used[use] = true
			// client-go's informers list by watching (sendInitialEvents)
			// where the API server can, and list where it cannot: they
			// need both verbs.
			if use.verb == "watch" && req.URL.Query().Get("sendInitialEvents") == "true" {
				list := use
				list.verb = "list"
				u.used[list] = true
			}
			if resp != nil && resp.StatusCode == http.StatusForbidden {
				u.forbidden = append(u.forbidden, use)
			}
			u.mu.Unlock()
		}
		return resp, err
	})
}

func (u *apiUses) add(uses map[apiUse]bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	maps.Copy(u.used, uses)
}

func (u *apiUses) has(use apiUse) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.used[use]
}

// useOf reads a request's verb and resource the way the API server does
// for RBAC; discovery and other non-resource requests are not uses.
func useOf(req *http.Request) (apiUse, bool) {
	var u apiUse
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	switch {
	case len(parts) >= 3 && parts[0] == "api": // /api/v1/...
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis": // /apis/<group>/<version>/...
		u.group, parts = parts[1], parts[3:]
	default:
		return u, false
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		u.namespace, parts = parts[1], parts[2:]
	}
	u.resource = parts[0]
	if len(parts) >= 3 {
		u.resource += "/" + parts[2]
	}
	named := len(parts) >= 2
	switch q := req.URL.Query(); {
	case req.Method == http.MethodGet && (q.Get("watch") == "true" || q.Get("watch") == "1"):
		u.verb = "watch"
	case req.Method == http.MethodGet && named:
		u.verb = "get"
	case req.Method == http.MethodGet:
		u.verb = "list"
	case req.Method == http.MethodPost:
		u.verb = "create"
	case req.Method == http.MethodPut:
		u.verb = "update"
	case req.Method == http.MethodPatch:
		u.verb = "patch"
	case req.Method == http.MethodDelete && named:
		u.verb = "delete"
	case req.Method == http.MethodDelete:
		u.verb = "deletecollection"
	default:
		return u, false
	}
	return u, true
}

// grants lists what rules allow, in namespace ("" for a ClusterRole).
func grants(t *testing.T, rules []rbacv1.PolicyRule, namespace string) map[apiUse]bool {
	t.Helper()
	out := map[apiUse]bool{}
	for _, r := range rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %+v: the operator's roles name resources only by kind", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					if g == "*" || res == "*" || v == "*" {
						t.Errorf("rule %+v grants a wildcard", r)
					}
					out[apiUse{namespace, g, res, v}] = true
				}
			}
		}
	}
	return out
}

// ownerFinalizerUses are the uses that admission, not a request, makes of
// the operator's rights: an owner reference that blocks its owner's
// deletion needs update on the owner's finalizers where the
// OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift
// turns it on). They are read from the objects in ns that the operator
// made.
func ownerFinalizerUses(t *testing.T, ns string) map[apiUse]bool {
	t.Helper()
	ctx := context.Background()
	var secrets corev1.SecretList
	var certificates cmapi.CertificateList
	if err := env.Client.List(ctx, &secrets, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.List(ctx, &certificates, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var owned []metav1.Object
	for i := range secrets.Items {
		owned = append(owned, &secrets.Items[i])
	}
	for i := range certificates.Items {
		owned = append(owned, &certificates.Items[i])
	}
	out := map[apiUse]bool{}
	for _, o := range owned {
		for _, ref := range o.GetOwnerReferences() {
			if ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
				continue
			}
			gv, err := schema.ParseGroupVersion(ref.APIVersion)
			if err != nil {
				t.Fatal(err)
			}
			m, err := env.Client.RESTMapper().RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
			if err != nil {
				t.Fatal(err)
			}
			out[apiUse{ns, gv.Group, m.Resource.Resource + "/finalizers", "update"}] = true
		}
	}
	return out
}

// TestTheOperatorUsesEveryVerbOfItsRolesAndNoOther runs the operator as a
// user bound to exactly the generated roles, as the default install binds
// them: the ClusterRole everywhere, the Role in the operator's own
// namespace. It drives every controller through what it does (ApiClient
// tokens written and rewritten, an IngestionChannel's Secret, an
// M2MCertificate's cert-manager Certificate created, changed and deleted,
// a NotificationChannel registered, its credentials rotated, its
// dependencies marked in use and released, its deletion), records every
// request the operator makes, and compares: a request the roles do not
// allow fails the test, and so does a verb of the roles that nothing used.
func TestTheOperatorUsesEveryVerbOfItsRolesAndNoOther(t *testing.T) {
	ctx := context.Background()
	ns, system := env.Namespace(t), env.Namespace(t)
	user := "keyport-operator-" + ns
	clusterRole, role := generatedRoles(t, user, system)
	create(t, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}})
	create(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: system},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}})
	cfg, err := env.UserConfig(user)
	if err != nil {
		t.Fatal(err)
	}
	uses := &apiUses{used: map[apiUse]bool{}}
	cfg.Wrap(uses.wrap)
	startOperator(t, cfg, "--leader-election-namespace", system, "--leader-election-id", user, "--mac-key-secret", system+"/keyport-mac-key")

	// An ApiClient gets its token Secret, and a forced refresh rewrites it.
	account := ns + "-platform"
	sandboxClient(t, ns, "platform", account, nil)
	waitReady(t, ns, "platform")
	// It keeps the platform's key set in a ConfigMap, written again on the
	// forced refresh below.
	platform := &keyportv1.ApiClient{}
	get(t, ns, "platform", platform)
	update(t, platform, func() { platform.Spec.JWKS = &keyportv1.JWKSSettings{URL: sb.URL() + "/softpos/par/jwks.json"} })
	optest.Eventually(t, 30*time.Second, "the key set's ConfigMap", func() (bool, string) {
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "platform-jwks"}, &corev1.ConfigMap{})
		return err == nil, fmt.Sprint(err)
	})
	token := &corev1.Secret{}
	get(t, ns, "platform-token", token)
	annotate(t, &keyportv1.ApiClient{}, ns, "platform", keyportv1.AnnotationRefresh, "1")
	optest.Eventually(t, 30*time.Second, "the token Secret rewritten", func() (bool, string) {
		now := &corev1.Secret{}
		get(t, ns, "platform-token", now)
		return now.ResourceVersion != token.ResourceVersion, "not yet"
	})
	optest.Eventually(t, 30*time.Second, "the key set fetched again on the forced refresh", func() (bool, string) {
		cm := &corev1.ConfigMap{}
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "platform-jwks"}, cm)
		return err == nil && cm.Annotations[jwks.AnnotationRefreshHandled] == "1", fmt.Sprint(err)
	})

	// An IngestionChannel gets its Secret.
	sb.OnboardIngestionChannel(account, sandbox.IngestionChannel{ID: "ch-" + ns, Customer: "customer-1", MessageType: "Visit"})
	create(t, &keyportv1.IngestionChannel{ObjectMeta: metav1.ObjectMeta{Name: "visits", Namespace: ns}, Spec: keyportv1.IngestionChannelSpec{
		ApiClientName: "platform", Customer: "customer-1", BaseURL: sb.URL(), ChannelID: "ch-" + ns, MessageType: "Visit",
		Platform: &keyportv1.PlatformReference{Driver: sandbox.Driver, ApiClientName: "platform", ManagementURL: sb.URL(), Parameters: sandbox.DriverParameters()}}})
	waitCondition(t, &keyportv1.IngestionChannel{}, ns, "visits", metav1.ConditionTrue, "")

	// An M2MCertificate's cert-manager Certificate is created, follows the
	// spec, and goes when the spec names an issuer that is not allowed.
	m2m := &keyportv1.M2MCertificate{ObjectMeta: metav1.ObjectMeta{Name: "mtls", Namespace: ns}, Spec: keyportv1.M2MCertificateSpec{
		CertManager: &keyportv1.CertManagerSource{IssuerRef: keyportv1.IssuerReference{Name: "own-issuer"}, CommonName: "mtls"}}}
	create(t, m2m)
	certificate := func() (*cmapi.Certificate, error) {
		c := &cmapi.Certificate{}
		return c, env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "mtls"}, c)
	}
	optest.Eventually(t, 30*time.Second, "the cert-manager Certificate", func() (bool, string) {
		_, err := certificate()
		return err == nil, fmt.Sprint(err)
	})
	update(t, m2m, func() { m2m.Spec.CertManager.DNSNames = []string{"mtls.example.com"} })
	optest.Eventually(t, 30*time.Second, "the Certificate updated", func() (bool, string) {
		c, err := certificate()
		return err == nil && slices.Equal(c.Spec.DNSNames, []string{"mtls.example.com"}), fmt.Sprint(err)
	})
	uses.add(ownerFinalizerUses(t, ns)) // before the Certificate goes
	update(t, m2m, func() {
		m2m.Spec.CertManager.IssuerRef = keyportv1.IssuerReference{Name: "everyones", Kind: "ClusterIssuer"}
	})
	optest.Eventually(t, 30*time.Second, "the Certificate of a refused issuer deleted", func() (bool, string) {
		_, err := certificate()
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})

	// A NotificationChannel registers, marks what it needs in use, and
	// generates a bearer token that is then rotated.
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook-env", Namespace: ns}, StringData: map[string]string{"env": "uat"}})
	create(t, &keyportv1.NotificationChannel{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: ns}, Spec: keyportv1.NotificationChannelSpec{
		Platform:    keyportv1.PlatformReference{Driver: sandbox.Driver, ApiClientName: "platform", ManagementURL: sb.URL(), Parameters: sandbox.DriverParameters()},
		ChannelName: ns + "-hook", WebhookURL: "https://hooks.example.com/" + ns,
		Headers:        []keyportv1.HTTPHeader{{Name: "X-Env", ValueFrom: &keyportv1.SecretKeySelector{Name: "hook-env", Key: "env"}}},
		Authentication: keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthStaticBearer, GeneratedSecretName: "hook-token"}}})
	registered := waitCondition(t, &keyportv1.NotificationChannel{}, ns, "hook", metav1.ConditionTrue, keyportv1.ReasonChannelRegistered)
	annotate(t, &keyportv1.NotificationChannel{}, ns, "hook", notificationchannel.AnnotationRotate, "1")
	optest.Eventually(t, 30*time.Second, "the generated token rotated", func() (bool, string) {
		s := &corev1.Secret{}
		get(t, ns, "hook-token", s)
		return len(s.Data["previous_bearer_token"]) > 0, "not yet"
	})
	// Its header's Secret goes and comes back: the second "registered"
	// event repeats the first, and the event recorder counts it in place.
	if err := env.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook-env", Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	annotate(t, &keyportv1.NotificationChannel{}, ns, "hook", "test.keyport.dev/look", "1")
	waitCondition(t, &keyportv1.NotificationChannel{}, ns, "hook", metav1.ConditionTrue, keyportv1.ReasonCredentialsNotFound)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook-env", Namespace: ns}, StringData: map[string]string{"env": "uat"}})
	annotate(t, &keyportv1.NotificationChannel{}, ns, "hook", "test.keyport.dev/look", "2")
	waitCondition(t, &keyportv1.NotificationChannel{}, ns, "hook", metav1.ConditionTrue, keyportv1.ReasonChannelRegistered)
	optest.Eventually(t, 30*time.Second, "the repeated event counted", func() (bool, string) {
		return uses.has(apiUse{ns, "", "events", "patch"}), "no event patched yet"
	})
	// Deleted, it removes its registration and releases what it used.
	if err := env.Client.Delete(ctx, registered); err != nil {
		t.Fatal(err)
	}
	optest.Eventually(t, 30*time.Second, "the ApiClient released", func() (bool, string) {
		ac := &keyportv1.ApiClient{}
		get(t, ns, "platform", ac)
		return !slices.Contains(ac.Finalizers, keyportv1.FinalizerInUse), fmt.Sprint(ac.Finalizers)
	})
	// The lease has been renewed by now (every two seconds).
	optest.Eventually(t, 30*time.Second, "the lease renewed", func() (bool, string) {
		return uses.has(apiUse{system, "coordination.k8s.io", "leases", "update"}), "not yet"
	})

	uses.mu.Lock()
	defer uses.mu.Unlock()
	for _, f := range uses.forbidden {
		t.Errorf("the API server refused the operator: %s", f)
	}
	used := maps.Clone(uses.used)
	maps.Copy(used, ownerFinalizerUses(t, ns))
	// The ClusterRole is for the tenants' namespaces, the Role for the
	// operator's own.
	inCluster := grants(t, clusterRole.Rules, "")
	inSystem := grants(t, role.Rules, system)
	usedInCluster := map[apiUse]bool{}
	var missing, unused []string
	for u := range used {
		anywhere := u
		anywhere.namespace = ""
		if u.namespace != system {
			usedInCluster[anywhere] = true
		}
		if !inCluster[anywhere] && !inSystem[u] {
			missing = append(missing, u.String())
		}
	}
	for g := range inCluster {
		if !usedInCluster[g] {
			unused = append(unused, "ClusterRole: "+g.String())
		}
	}
	for g := range inSystem {
		if !used[g] {
			unused = append(unused, "Role: "+g.String())
		}
	}
	slices.Sort(missing)
	slices.Sort(unused)
	if len(missing) > 0 {
		t.Errorf("the operator used what its roles do not grant (add RBAC markers):\n  %s", strings.Join(missing, "\n  "))
	}
	if len(unused) > 0 {
		t.Errorf("the roles grant what the operator never used (remove it from the RBAC markers):\n  %s", strings.Join(unused, "\n  "))
	}
}

func get(t *testing.T, ns, name string, obj client.Object) {
	t.Helper()
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatal(err)
	}
}

// annotate sets an annotation on ns/name, as a user does.
func annotate(t *testing.T, obj client.Object, ns, name, key, value string) {
	t.Helper()
	get(t, ns, name, obj)
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[key] = value
	obj.SetAnnotations(a)
	if err := env.Client.Patch(context.Background(), obj, patch); err != nil {
		t.Fatal(err)
	}
}

// update changes obj's spec with change, as a user does.
func update(t *testing.T, obj client.Object, change func()) {
	t.Helper()
	get(t, obj.GetNamespace(), obj.GetName(), obj)
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	change()
	if err := env.Client.Patch(context.Background(), obj, patch); err != nil {
		t.Fatal(err)
	}
}

// waitCondition waits for Ready of the current generation with status and,
// unless empty, reason, and returns the object.
func waitCondition[O client.Object](t *testing.T, obj O, ns, name string, status metav1.ConditionStatus, reason string) O {
	t.Helper()
	optest.Eventually(t, 30*time.Second, fmt.Sprintf("%T %s Ready=%s %s", obj, name, status, reason), func() (bool, string) {
		get(t, ns, name, obj)
		c := conditions.ReadyOf(obj)
		if c == nil {
			return false, "no Ready condition"
		}
		return c.Status == status && (reason == "" || c.Reason == reason) && c.ObservedGeneration == obj.GetGeneration(), describe(c)
	})
	return obj
}

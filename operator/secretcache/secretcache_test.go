package secretcache

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The operator's client as the manager's cache makes it for Secrets that
// are not Keyport's: the cache of whole Secrets does not have them, the
// metadata cache knows their resourceVersion, and the API server (live)
// has their content. The wiring of both caches against a real API server
// is tested by the ApiClient controller's tests; this one is about what is
// remembered of a content, and for how long.
type apiServer struct {
	client.Client // nil: the test calls only Get
	secrets       map[types.NamespacedName]*corev1.Secret
	liveReads     int
}

// metadataCache answers Gets as the cache does: no whole foreign Secret,
// only its metadata.
type metadataCache struct{ *apiServer }

func (m metadataCache) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	s, ok := m.secrets[key]
	pom, isMetadata := obj.(*metav1.PartialObjectMetadata)
	if !ok || !isMetadata {
		return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
	}
	pom.ResourceVersion = s.ResourceVersion
	return nil
}

func (a *apiServer) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	a.liveReads++
	s, ok := a.secrets[key]
	if !ok {
		return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
	}
	s.DeepCopyInto(obj.(*corev1.Secret))
	return nil
}

func (a *apiServer) put(name, resourceVersion, password string) types.NamespacedName {
	key := types.NamespacedName{Namespace: "team-a", Name: name}
	a.secrets[key] = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, ResourceVersion: resourceVersion},
		Data:       map[string][]byte{"password": []byte(password)},
	}
	return key
}

func TestAForeignSecretIsReadAgainOnlyWhenItChangedOrWasLongUnused(t *testing.T) {
	server := &apiServer{secrets: map[types.NamespacedName]*corev1.Secret{}}
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
	c := newSecretClient(metadataCache{server}, server, clk)
	credentials := server.put("credentials", "1", "first")
	other := server.put("other", "7", "unrelated")

	read := func(key types.NamespacedName, want string) {
		t.Helper()
		s := &corev1.Secret{}
		if err := c.Get(context.Background(), key, s); err != nil {
			t.Fatal(err)
		}
		if got := string(s.Data["password"]); got != want {
			t.Fatalf("%s: read %q, want %q", key.Name, got, want)
		}
	}
	liveReads := func(want int, why string) {
		t.Helper()
		if server.liveReads != want {
			t.Fatalf("%s: %d reads from the API server, want %d", why, server.liveReads, want)
		}
	}

	read(other, "unrelated")
	read(credentials, "first")
	read(credentials, "first")
	liveReads(2, "the same resourceVersion twice")

	server.put("credentials", "2", "rotated")
	read(credentials, "rotated")
	liveReads(3, "after the Secret changed")

	// Read every half hour, the credentials stay remembered however long
	// that goes on; the other Secret, read once, is forgotten on the way.
	for range 4 {
		clk.SetTime(clk.Now().Add(forgetUnusedAfter / 2))
		read(credentials, "rotated")
	}
	liveReads(3, "read every half hour")
	if _, kept := c.contents[other]; kept {
		t.Error("the content of a Secret no Get asked for in two hours is still in memory")
	}
	read(other, "unrelated")
	liveReads(4, "a Secret not asked for in two hours")

	// Not asked for in an hour: read from the API server again.
	clk.SetTime(clk.Now().Add(forgetUnusedAfter))
	read(credentials, "rotated")
	liveReads(5, "an hour later")
}

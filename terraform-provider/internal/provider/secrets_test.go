package provider

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ktypes "k8s.io/apimachinery/pkg/types"
)

// TestWriteSecrets runs the write-only bookkeeping against the real API
// server: what is written when, and what is left behind.
func TestWriteSecrets(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	get := func(name string) *corev1.Secret {
		s := &corev1.Secret{}
		if err := env.Client.Get(ctx, ktypes.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		return s
	}
	// Someone else's key shares the Secret.
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
		Data: map[string][]byte{"subscription_key": []byte("sub")}}); err != nil {
		t.Fatal(err)
	}
	v1 := []storedValue{
		{id: "client_secret", secret: "creds", key: "client_secret", version: "1", value: []byte("one")},
		{id: "password", secret: "creds", key: "password", version: "1", value: []byte("pw")},
	}

	t.Run("a new value is written next to the others' keys", func(t *testing.T) {
		changed, err := writeSecrets(ctx, env.Client, ns, v1, nil)
		if err != nil || !changed {
			t.Fatalf("changed %v, err %v", changed, err)
		}
		s := get("creds")
		if string(s.Data["client_secret"]) != "one" || string(s.Data["password"]) != "pw" || string(s.Data["subscription_key"]) != "sub" {
			t.Errorf("keys %v", keys(s.Data))
		}
	})
	t.Run("the same versions write nothing, whatever the values", func(t *testing.T) {
		before := get("creds").ResourceVersion
		again := []storedValue{v1[0], v1[1]}
		again[0].value = []byte("changed without a new version")
		changed, err := writeSecrets(ctx, env.Client, ns, again, v1)
		if err != nil || changed {
			t.Fatalf("changed %v, err %v", changed, err)
		}
		if get("creds").ResourceVersion != before {
			t.Error("the Secret was written although no version changed")
		}
	})
	t.Run("a new version with the same value writes but changes nothing", func(t *testing.T) {
		bumped := []storedValue{v1[0], v1[1]}
		bumped[0].version = "2"
		changed, err := writeSecrets(ctx, env.Client, ns, bumped, v1)
		if err != nil || changed {
			t.Fatalf("changed %v, err %v", changed, err)
		}
	})
	t.Run("a rotated value is written and reported as a change", func(t *testing.T) {
		rotated := []storedValue{v1[0], v1[1]}
		rotated[0].version, rotated[0].value = "3", []byte("three")
		changed, err := writeSecrets(ctx, env.Client, ns, rotated, v1)
		if err != nil || !changed {
			t.Fatalf("changed %v, err %v", changed, err)
		}
		if s := get("creds"); string(s.Data["client_secret"]) != "three" || string(s.Data["password"]) != "pw" {
			t.Errorf("keys %v", keys(s.Data))
		}
	})
	t.Run("a value that moves to another key leaves the old key", func(t *testing.T) {
		prior := []storedValue{{id: "client_secret", secret: "creds", key: "client_secret", version: "3"}, v1[1]}
		moved := []storedValue{{id: "client_secret", secret: "creds", key: "secret", version: "3", value: []byte("three")}, v1[1]}
		if _, err := writeSecrets(ctx, env.Client, ns, moved, prior); err != nil {
			t.Fatal(err)
		}
		s := get("creds")
		if _, ok := s.Data["client_secret"]; ok || string(s.Data["secret"]) != "three" || string(s.Data["subscription_key"]) != "sub" {
			t.Errorf("keys %v", keys(s.Data))
		}
	})
	t.Run("a value that moves to another Secret leaves the old Secret with the others' keys", func(t *testing.T) {
		prior := []storedValue{{id: "client_secret", secret: "creds", key: "secret", version: "3"}, {id: "password", secret: "creds", key: "password", version: "1"}}
		moved := []storedValue{{id: "client_secret", secret: "own", key: "client_secret", version: "3", value: []byte("three")}}
		if _, err := writeSecrets(ctx, env.Client, ns, moved, prior); err != nil {
			t.Fatal(err)
		}
		if s := get("creds"); len(s.Data) != 1 || string(s.Data["subscription_key"]) != "sub" {
			t.Errorf("the shared Secret kept the provider's keys: %v", keys(s.Data))
		}
		if s := get("own"); string(s.Data["client_secret"]) != "three" {
			t.Errorf("keys %v", keys(s.Data))
		}
	})
	t.Run("releasing a Secret only the provider wrote deletes it", func(t *testing.T) {
		if err := releaseSecrets(ctx, env.Client, ns, []storedValue{{secret: "own"}, {secret: "never-existed"}}); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Get(ctx, ktypes.NamespacedName{Namespace: ns, Name: "own"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
			t.Errorf("the provider's own Secret is still there: %v", err)
		}
		if _, ok := get("creds").Data["subscription_key"]; !ok {
			t.Error("the shared Secret lost someone else's key")
		}
	})
}

package provider

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ktypes "k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Write-only arguments (client_secret_wo, pkcs12_wo, …) never reach state:
// the provider writes them into the Secret the custom resource references,
// with server-side apply as the same field manager, so that it owns exactly
// the keys it wrote and leaves any others in the Secret alone. What state
// keeps is where each value went and its version.

// storedValue is one value the provider keeps in a Secret.
type storedValue struct {
	// id names the value within its resource, such as "client_secret".
	id string
	// secret and key locate it, in the resource's namespace.
	secret, key string
	// version changes when the value must be written again: the
	// *_wo_version of a write-only value, or a plain value itself.
	version string
	// value is nil for a prior state's entry.
	value []byte
}

// writeSecrets brings the Secrets to desired, given what prior (the state
// before) says the provider wrote. A Secret is written when a value in it is
// new, moved or has a new version, or when a key of the provider's left it;
// a Secret the provider no longer uses loses the provider's keys. changed
// reports whether any Secret's content now differs from before.
func writeSecrets(ctx context.Context, kube client.Client, namespace string, desired, prior []storedValue) (changed bool, err error) {
	priorByID := map[string]storedValue{}
	priorKeys := map[string][]string{}
	for _, v := range prior {
		priorByID[v.id] = v
		priorKeys[v.secret] = append(priorKeys[v.secret], v.key)
	}
	data := map[string]map[string][]byte{}
	write := map[string]bool{}
	for _, v := range desired {
		if data[v.secret] == nil {
			data[v.secret] = map[string][]byte{}
		}
		data[v.secret][v.key] = v.value
		p, ok := priorByID[v.id]
		if !ok || p.secret != v.secret || p.key != v.key || p.version != v.version {
			write[v.secret] = true
		}
	}
	for secret, keys := range priorKeys {
		if data[secret] == nil {
			continue
		}
		for _, k := range keys {
			if _, ok := data[secret][k]; !ok {
				write[secret] = true // a key of ours left this Secret
			}
		}
	}
	for _, secret := range slices.Sorted(maps.Keys(write)) {
		c, err := applySecret(ctx, kube, namespace, secret, data[secret])
		if err != nil {
			return changed, err
		}
		changed = changed || c
	}
	var gone []storedValue
	for secret := range priorKeys {
		if data[secret] == nil {
			gone = append(gone, storedValue{secret: secret})
		}
	}
	if err := releaseSecrets(ctx, kube, namespace, gone); err != nil {
		return changed, err
	}
	return changed, nil
}

// applySecret applies exactly data as the provider's part of the Secret and
// reports whether the Secret's content changed.
func applySecret(ctx context.Context, kube client.Client, namespace, name string, data map[string][]byte) (bool, error) {
	current := &corev1.Secret{}
	err := kube.Get(ctx, ktypes.NamespacedName{Namespace: namespace, Name: name}, current)
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("read Secret %s/%s: %v", namespace, name, err)
	}
	changed := false
	for k, v := range data {
		if !bytes.Equal(current.Data[k], v) {
			changed = true
		}
	}
	s := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Data:       data,
	}
	if _, err := applyObject(ctx, kube, s); err != nil {
		// API errors name the Secret and its keys, never their values.
		return false, fmt.Errorf("write Secret %s/%s: %v", namespace, name, err)
	}
	return changed, nil
}

// releaseSecrets removes the provider's keys from each named Secret, and
// the Secret itself once nothing is left in it.
func releaseSecrets(ctx context.Context, kube client.Client, namespace string, values []storedValue) error {
	seen := map[string]bool{}
	for _, v := range values {
		if seen[v.secret] {
			continue
		}
		seen[v.secret] = true
		key := ktypes.NamespacedName{Namespace: namespace, Name: v.secret}
		s := &corev1.Secret{}
		if err := kube.Get(ctx, key, s); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("read Secret %s: %v", key, err)
		}
		// Applying nothing drops every field the provider owned.
		empty := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Name: v.secret, Namespace: namespace}}
		if _, err := applyObject(ctx, kube, empty); err != nil {
			return fmt.Errorf("remove the provider's keys from Secret %s: %v", key, err)
		}
		if err := kube.Get(ctx, key, s); err != nil {
			return client.IgnoreNotFound(err)
		}
		if len(s.Data) == 0 && len(s.StringData) == 0 {
			err := kube.Delete(ctx, s, client.Preconditions{ResourceVersion: &s.ResourceVersion})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return fmt.Errorf("delete the empty Secret %s: %v", key, err)
			}
		}
	}
	return nil
}

package provider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ktypes "k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Write-only arguments (client_secret_wo, pkcs12_wo, …) never reach state:
// the provider writes them into the Secret the custom resource references,
// with server-side apply. What state keeps is where each value went and its
// version.
//
// Several resources may share one Secret (the clients of one platform
// account, say), so each resource applies its keys as a field manager of
// its own (secretManager): it owns exactly the keys it wrote, an apply of
// its keys leaves the others' alone, and a destroy removes only its keys,
// and the Secret only once no key is left in it.

// secretManager is the field manager of the keys that the resource name of
// type typeName writes into Secrets of its namespace. A long name is
// shortened with a hash of it to fit the API's 128 characters.
func secretManager(typeName, name string) string {
	m := fieldManager + "/" + typeName + "/" + name
	if len(m) <= 128 {
		return m
	}
	sum := sha256.Sum256([]byte(name))
	return m[:128-17] + "-" + hex.EncodeToString(sum[:8])
}

// keyOwners maps each key of s to the field managers that own it.
func keyOwners(s *corev1.Secret) map[string][]string {
	out := map[string][]string{}
	for _, mf := range s.ManagedFields {
		var fields struct {
			Data map[string]json.RawMessage `json:"f:data"`
		}
		if mf.FieldsV1 == nil || json.Unmarshal(mf.FieldsV1.Raw, &fields) != nil {
			continue
		}
		for f := range fields.Data {
			if key, ok := strings.CutPrefix(f, "f:"); ok {
				out[key] = append(out[key], mf.Manager)
			}
		}
	}
	return out
}

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
func writeSecrets(ctx context.Context, kube client.Client, namespace, manager string, desired, prior []storedValue) (changed bool, err error) {
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
		c, err := applySecret(ctx, kube, namespace, manager, secret, data[secret])
		if err != nil {
			return changed, err
		}
		changed = changed || c
	}
	var gone []storedValue
	for _, v := range prior {
		if data[v.secret] == nil {
			gone = append(gone, v)
		}
	}
	if err := releaseSecrets(ctx, kube, namespace, manager, gone); err != nil {
		return changed, err
	}
	return changed, nil
}

// applySecret applies exactly data as manager's part of the Secret and
// reports whether the Secret's content changed. It takes a key over from
// anyone (a kubectl edit, the single manager of earlier provider versions)
// but another resource of this provider: two resources writing one key is
// a configuration to fix, not a race for the last word.
func applySecret(ctx context.Context, kube client.Client, namespace, manager, name string, data map[string][]byte) (bool, error) {
	current := &corev1.Secret{}
	err := kube.Get(ctx, ktypes.NamespacedName{Namespace: namespace, Name: name}, current)
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("read Secret %s/%s: %v", namespace, name, err)
	}
	changed := false
	owners := keyOwners(current)
	for _, k := range slices.Sorted(maps.Keys(data)) {
		if !bytes.Equal(current.Data[k], data[k]) {
			changed = true
		}
		for _, m := range owners[k] {
			if other, ok := strings.CutPrefix(m, fieldManager+"/"); ok && m != manager {
				typeName, otherName, _ := strings.Cut(other, "/")
				return false, fmt.Errorf("key %q of Secret %s/%s is written by the keyport_%s named %q: give each resource a key of its own",
					k, namespace, name, typeName, otherName)
			}
		}
	}
	s := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Data:       data,
	}
	if _, err := applyObject(ctx, kube, s, manager); err != nil {
		// API errors name the Secret and its keys, never their values.
		return false, fmt.Errorf("write Secret %s/%s: %v", namespace, name, err)
	}
	return changed, nil
}

// releaseSecrets removes manager's keys from the Secrets of values, and a
// Secret itself once no key is left in it. The keys of values that earlier
// provider versions wrote, as one manager for every resource, go too.
func releaseSecrets(ctx context.Context, kube client.Client, namespace, manager string, values []storedValue) error {
	keysOf := map[string][]string{}
	for _, v := range values {
		keysOf[v.secret] = append(keysOf[v.secret], v.key)
	}
	for _, secret := range slices.Sorted(maps.Keys(keysOf)) {
		key := ktypes.NamespacedName{Namespace: namespace, Name: secret}
		s := &corev1.Secret{}
		if err := kube.Get(ctx, key, s); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("read Secret %s: %v", key, err)
		}
		// Applying a set without a key drops the key when no other manager
		// owns it: the single manager of earlier versions lets go of this
		// resource's keys, then this resource's manager of all of its own.
		legacy, ours := map[string][]byte{}, false
		for k, owners := range keyOwners(s) {
			switch {
			case !slices.Contains(owners, fieldManager):
			case slices.Contains(keysOf[secret], k):
				ours = true
			default:
				legacy[k] = s.Data[k]
			}
		}
		apply := func(as string, data map[string][]byte) error {
			_, err := applyObject(ctx, kube, &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
				ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: namespace}, Data: data}, as)
			return err
		}
		if ours {
			if err := apply(fieldManager, legacy); err != nil {
				return fmt.Errorf("remove the keys earlier provider versions wrote from Secret %s: %v", key, err)
			}
		}
		if err := apply(manager, nil); err != nil {
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

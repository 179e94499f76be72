// Package mackey loads the key of Keyport's change-detection MACs. Every
// replica, and every restart, must use the same key: otherwise the MACs in
// existing Secrets would stop matching and each restart would request a new
// token for every ApiClient. So the key lives in a Secret, created once.
package mackey

import (
	"context"
	"crypto/rand"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// dataKey is the key of the MAC key within its Secret.
const dataKey = "key"

// Load returns the MAC key from namespace/name, creating the Secret with a
// fresh random key if it does not exist yet.
func Load(ctx context.Context, cfg *rest.Config, namespace, name string) ([]byte, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	secrets := cs.CoreV1().Secrets(namespace)
	for attempt := 0; attempt < 3; attempt++ {
		s, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			if key := s.Data[dataKey]; len(key) >= 32 {
				return key, nil
			}
			return nil, fmt.Errorf("Secret %s/%s has no %q of at least 32 bytes", namespace, name, dataKey)
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("read Secret %s/%s: %w", namespace, name, err)
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace,
				Labels: map[string]string{keyportv1.LabelManagedBy: keyportv1.ManagedByValue}},
			Data: map[string][]byte{dataKey: key},
		}, metav1.CreateOptions{})
		switch {
		case err == nil:
			return key, nil
		case apierrors.IsAlreadyExists(err):
			continue // another replica was first; read its key
		case apierrors.IsNotFound(err):
			return nil, fmt.Errorf("namespace %q does not exist: create it or point --mac-key-secret elsewhere", namespace)
		default:
			return nil, fmt.Errorf("create Secret %s/%s: %w", namespace, name, err)
		}
	}
	return nil, fmt.Errorf("could not read or create Secret %s/%s", namespace, name)
}

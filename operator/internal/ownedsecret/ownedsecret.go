// Package ownedsecret writes the Secrets Keyport's controllers own: created
// with a controller reference to their resource (so they go with it),
// labelled as Keyport's, and updated in place only when their content
// differs, so a resync costs no write and a rotation costs one.
package ownedsecret

import (
	"bytes"
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// +kubebuilder:rbac:groups="",resources=secrets,verbs=list;watch;create;update

// Apply makes the Secret namespace/name of owner look as fill makes it.
// fill receives the current Secret (or a new one) and sets type, data,
// labels and annotations; it must not touch anything else. A Secret of that
// name that owner does not control is never overwritten.
func Apply(ctx context.Context, c client.Client, owner client.Object, name string, fill func(*corev1.Secret) error) error {
	current := &corev1.Secret{}
	err := c.Get(ctx, types.NamespacedName{Namespace: owner.GetNamespace(), Name: name}, current)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("read Secret %q: %w", name, err)
	}
	exists := err == nil
	if exists && !metav1.IsControlledBy(current, owner) {
		return fmt.Errorf("Secret %q exists and is not managed by %q; choose another Secret name", name, owner.GetName())
	}
	desired := current.DeepCopy()
	desired.Name, desired.Namespace = name, owner.GetNamespace()
	if err := fill(desired); err != nil {
		return err
	}
	if desired.Labels == nil {
		desired.Labels = map[string]string{}
	}
	desired.Labels[keyportv1.LabelManagedBy] = keyportv1.ManagedByValue
	switch {
	case !exists:
		if err := ctrl.SetControllerReference(owner, desired, c.Scheme()); err != nil {
			return err
		}
		if err := c.Create(ctx, desired); err != nil {
			return fmt.Errorf("create Secret %q: %w", name, err)
		}
		return nil
	case UpToDate(current, desired):
		return nil
	case current.Type != desired.Type:
		// A Secret's type is immutable, and the operator deletes no Secret:
		// one of another type was not made by this controller.
		return fmt.Errorf("Secret %q has type %s, not %s; delete it and it is created again", name, current.Type, desired.Type)
	}
	if err := c.Update(ctx, desired); err != nil {
		return fmt.Errorf("update Secret %q: %w", name, err)
	}
	return nil
}

// UpToDate reports whether current already holds what desired does.
func UpToDate(current, desired *corev1.Secret) bool {
	return current.Type == desired.Type &&
		maps.EqualFunc(current.Data, desired.Data, bytes.Equal) &&
		maps.Equal(current.Labels, desired.Labels) &&
		maps.Equal(current.Annotations, desired.Annotations)
}

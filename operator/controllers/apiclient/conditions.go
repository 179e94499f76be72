package apiclient

import (
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// isReady reports whether conditions say Ready=True for the given generation:
// a Ready computed for an older spec says nothing about the current one.
func isReady(conditions []metav1.Condition, generation int64) bool {
	c := apimeta.FindStatusCondition(conditions, keyportv1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == generation
}

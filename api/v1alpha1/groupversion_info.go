// Package v1alpha1 holds the Keyport API: ApiClient, M2MCertificate,
// IngestionChannel and NotificationChannel in the keyport.dev group.
//
// The types carry their own validation as kubebuilder markers (OpenAPI and CEL
// rules), so the API server rejects a bad object before any controller sees it.
// Nothing in this package calls out of the process.
//
// +kubebuilder:object:generate=true
// +groupName=keyport.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every Keyport kind.
	GroupVersion = schema.GroupVersion{Group: "keyport.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Keyport kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the Keyport kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

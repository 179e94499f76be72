package ingestionchannel

import (
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// WithIndexes gives a fake client the field indexes the reconciler lists by.
func WithIndexes(b *fake.ClientBuilder) *fake.ClientBuilder {
	for name, values := range indexes {
		b = b.WithIndex(&keyportv1.IngestionChannel{}, name, func(o client.Object) []string { return values(o.(*keyportv1.IngestionChannel)) })
	}
	return b
}

package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

type refreshResult struct {
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Annotation string `json:"annotation"`
	Value      string `json:"value"`
}

func newRefreshCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "refresh KIND NAME",
		Short: "Ask the operator to fetch a new token now (sets the keyport.dev/refresh annotation)",
		Long: `refresh sets the annotation keyport.dev/refresh on an ApiClient to a new
value; the operator then fetches a new token at once, outside its schedule.
IngestionChannels carry their ApiClient's token: refresh that ApiClient.
` + "`kubectl keyport status apiclient NAME`" + ` shows when the refresh is done.`,
		Example: `  kubectl keyport refresh apiclient port-api -n team-a`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, k, name, err := o.sessionFor(args)
			if err != nil {
				return err
			}
			res, err := s.refresh(ctx(cmd), k, name)
			if err != nil {
				return err
			}
			return o.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "%s %s/%s: refresh requested (%s=%s)\n", res.Kind, res.Namespace, res.Name, res.Annotation, res.Value)
			})
		},
	}
}

// refresh sets the refresh annotation, which the operator honours on
// ApiClients only; for the other kinds it says what to do instead.
func (s *session) refresh(ctx context.Context, k kind, name string) (*refreshResult, error) {
	obj, err := s.get(ctx, k, name)
	if err != nil {
		return nil, err
	}
	switch o := obj.(type) {
	case *keyportv1.IngestionChannel:
		return nil, fmt.Errorf("an IngestionChannel carries the token of its ApiClient: run `kubectl keyport refresh apiclient %s`", o.Spec.ApiClientName)
	case *keyportv1.NotificationChannel:
		return nil, fmt.Errorf("a NotificationChannel has no token of its own: its platform calls use ApiClient %q (`kubectl keyport refresh apiclient %s`); "+
			"to rotate its generated webhook credentials set the annotation %s to a new value", o.Spec.Platform.ApiClientName, o.Spec.Platform.ApiClientName, annotationRotate)
	case *keyportv1.M2MCertificate:
		return nil, fmt.Errorf("an M2MCertificate is renewed by its source (cert-manager, or whoever replaces its Secret), not by Keyport; " +
			"the ApiClients using it refresh their tokens on their own when it changes")
	}
	// A new value each time: the operator acts on a value it has not handled.
	value := s.now.UTC().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{keyportv1.AnnotationRefresh: value}}})
	if err != nil {
		return nil, err
	}
	ac := &keyportv1.ApiClient{}
	ac.Namespace, ac.Name = s.namespace, name
	if err := s.c.Patch(ctx, ac, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return nil, fmt.Errorf("set %s on ApiClient %q: %w", keyportv1.AnnotationRefresh, name, err)
	}
	return &refreshResult{Kind: k.name, Namespace: s.namespace, Name: name, Annotation: keyportv1.AnnotationRefresh, Value: value}, nil
}

package apiclient_test

import (
	"context"
	"testing"
	"time"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
)

// An output Secret written by a version of Keyport that did not label its
// Secrets is not in the cache of whole Secrets (operator/secretcache). The
// operator finds it anyway, keeps its token (no new request) and labels
// it, after which it is refreshed as any other: an upgrade loses nothing.
func TestAnUnlabelledOutputSecretIsAdoptedWithItsToken(t *testing.T) {
	ctx := context.Background()
	ns := setup(t)
	op := startOperator(t, ns, nil)
	readyClient(t, ns, "older")
	op.Stop()
	original, secret, _ := tokenIn(t, ns, "older-token")
	delete(secret.Labels, keyportv1.LabelManagedBy)
	if err := env.Client.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	base := sb.Counters().Requests(sandbox.EndpointConnectToken, clientID)

	startOperator(t, ns, nil)
	eventually(t, 20*time.Second, "the output Secret labelled as Keyport's", func() (bool, string) {
		tok, s, ok := tokenIn(t, ns, "older-token")
		if !ok || s.Labels[keyportv1.LabelManagedBy] != keyportv1.ManagedByValue {
			return false, "not labelled yet"
		}
		return tok.AccessToken == original.AccessToken, "the token was replaced"
	})
	waitReady(t, ns, "older")
	if n := sb.Counters().Requests(sandbox.EndpointConnectToken, clientID) - base; n != 0 {
		t.Errorf("adopting the Secret cost %d token requests, want 0", n)
	}

	// From now on it is cached whole: a forced refresh writes the new token.
	ac := get(t, ns, "older", &keyportv1.ApiClient{})
	ac.Annotations = map[string]string{keyportv1.AnnotationRefresh: "after-upgrade"}
	if err := env.Client.Update(ctx, ac); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "a new token in the adopted Secret", func() (bool, string) {
		tok, _, ok := tokenIn(t, ns, "older-token")
		return ok && tok.AccessToken != original.AccessToken, "still the first token"
	})
}

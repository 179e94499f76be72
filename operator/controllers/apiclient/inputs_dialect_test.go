package apiclient

import (
	"context"
	"errors"
	"strings"
	"testing"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// TestAnUnknownPresetIsReportedNotGuessed: an ApiClient with a preset this
// operator does not know (a CRD newer than the operator) sends nothing and
// says why, instead of asking for a token in some default dialect.
func TestAnUnknownPresetIsReportedNotGuessed(t *testing.T) {
	ac := &keyportv1.ApiClient{Spec: keyportv1.ApiClientSpec{TokenURL: "https://login.example.com/token", Preset: "FuturePlatform",
		Credentials: &keyportv1.CredentialsSource{SecretName: "creds"}}}
	// No client: nothing may be read before the dialect is known.
	_, err := gatherInputs(context.Background(), nil, ac)
	var ie *inputError
	if !errors.As(err, &ie) || ie.reason != keyportv1.ReasonTokenEndpointRejected || !strings.Contains(ie.message, `preset "FuturePlatform"`) {
		t.Fatalf("err = %v, want TokenEndpointRejected naming the preset", err)
	}
}

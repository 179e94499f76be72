package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/echoprovider"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// withEcho adds the echo provider, which puts an ephemeral value into state
// so that a test can look at it.
func withEcho() map[string]func() (tfprotov6.ProviderServer, error) {
	f := newFactories()
	f["echo"] = echoprovider.NewProviderServer()
	return f
}

// echoTestCase runs step with the echo provider beside Keyport's, on a
// Terraform that has ephemeral resources (1.10 and later).
func echoTestCase(step resource.TestStep) resource.TestCase {
	return resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_10_0)},
		ProtoV6ProviderFactories: withEcho(),
		Steps:                    []resource.TestStep{step},
	}
}

// echoed is the configuration that hands ephemeral.keyport_access_token.name
// to the echo provider, so that its values show in echo.token's state.
func echoed(name string) string {
	return fmt.Sprintf(`
provider "echo" {
  data = ephemeral.keyport_access_token.%s
}

resource "echo" "token" {}
`, name)
}

// readyApiClient creates an ApiClient the way the operator leaves it: Ready,
// with its token in the output Secret.
func readyApiClient(t *testing.T, ns, name string, tok tokensecret.Token) {
	t.Helper()
	ctx := context.Background()
	ac := &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: keyportv1.ApiClientSpec{
		TokenURL: "https://login.example.com/token", ClientID: name, Credentials: &keyportv1.CredentialsSource{SecretName: name + "-credentials"}}}
	if err := env.Client.Create(ctx, ac); err != nil {
		t.Fatal(err)
	}
	writeTokenSecret(t, ns, name+"-token", tok)
	if err := setStatus(ctx, ac, ac.Generation, func(o client.Object) {
		o.(*keyportv1.ApiClient).Status.OutputSecretName = name + "-token"
	}, readyCondition(metav1.ConditionTrue, keyportv1.ReasonTokenRefreshed, "token valid")); err != nil {
		t.Fatal(err)
	}
}

func writeTokenSecret(t *testing.T, ns, name string, tok tokensecret.Token) {
	t.Helper()
	data, err := tokensecret.Render(tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: data}); err != nil {
		t.Fatal(err)
	}
}

// TestAccAccessToken_ReadsTheOperatorsSecret reads the token the operator
// keeps in the ApiClient's output Secret, through the echo provider.
func TestAccAccessToken_ReadsTheOperatorsSecret(t *testing.T) {
	ns := env.Namespace(t)
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	readyApiClient(t, ns, "cpu", tokensecret.Token{AccessToken: "eyJ.test-token", TokenType: "Bearer", ExpiresAt: expires,
		Headers: map[string]string{"Ocp-Apim-Subscription-Key": "sub-key"}})
	resource.Test(t, echoTestCase(resource.TestStep{
		Config: providerConfig(t, ns) + `
ephemeral "keyport_access_token" "cpu" {
  api_client_name = "cpu"
}
` + echoed("cpu"),
		ConfigStateChecks: []statecheck.StateCheck{
			statecheck.ExpectKnownValue("echo.token", tfjsonpath.New("data").AtMapKey("access_token"), knownvalue.StringExact("eyJ.test-token")),
			statecheck.ExpectKnownValue("echo.token", tfjsonpath.New("data").AtMapKey("authorization"), knownvalue.StringExact("Bearer eyJ.test-token")),
			statecheck.ExpectKnownValue("echo.token", tfjsonpath.New("data").AtMapKey("expires_at"), knownvalue.StringExact(expires.Format(time.RFC3339))),
			statecheck.ExpectKnownValue("echo.token", tfjsonpath.New("data").AtMapKey("secret_name"), knownvalue.StringExact("cpu-token")),
			statecheck.ExpectKnownValue("echo.token", tfjsonpath.New("data").AtMapKey("headers"), knownvalue.MapExact(map[string]knownvalue.Check{
				"Authorization":             knownvalue.StringExact("Bearer eyJ.test-token"),
				"Ocp-Apim-Subscription-Key": knownvalue.StringExact("sub-key"),
			})),
		},
	}))
}

// TestAccAccessToken_RefusesAnExpiredToken: a token past its expiry is an
// error that says so, with the ApiClient's condition.
func TestAccAccessToken_RefusesAnExpiredToken(t *testing.T) {
	ns := env.Namespace(t)
	readyApiClient(t, ns, "stale", tokensecret.Token{AccessToken: "old", TokenType: "Bearer", ExpiresAt: time.Now().Add(-time.Minute)})
	resource.Test(t, echoTestCase(resource.TestStep{
		Config: providerConfig(t, ns) + `
ephemeral "keyport_access_token" "stale" {
  api_client_name = "stale"
}
` + echoed("stale"),
		ExpectError: wrapped("The token has expired"),
	}))
}

// TestAccAccessToken_WithTheApiClientInTheSameConfiguration: the token of an
// ApiClient created in the same run is read once the ApiClient is Ready
// (here the test plays the operator).
func TestAccAccessToken_WithTheApiClientInTheSameConfiguration(t *testing.T) {
	ns := env.Namespace(t)
	reportOnceCreated(t, ns, "fresh", func(o client.Object) {
		// The token is in place before the status says Ready.
		writeTokenSecret(t, ns, "fresh-token", tokensecret.Token{AccessToken: "fresh-token-value", TokenType: "Bearer", ExpiresAt: time.Now().Add(time.Hour)})
		o.(*keyportv1.ApiClient).Status.OutputSecretName = "fresh-token"
	}, readyCondition(metav1.ConditionTrue, keyportv1.ReasonTokenRefreshed, "token valid"))
	resource.Test(t, echoTestCase(resource.TestStep{
		Config: providerConfig(t, ns) + `
resource "keyport_api_client" "fresh" {
  name        = "fresh"
  token_url   = "https://login.example.com/token"
  client_id   = "fresh"
  credentials = { secret_name = "fresh-credentials" }
}

ephemeral "keyport_access_token" "fresh" {
  # The id is known once the ApiClient exists: the token is read after it.
  api_client_id = keyport_api_client.fresh.id
}
` + echoed("fresh"),
		ConfigStateChecks: []statecheck.StateCheck{
			statecheck.ExpectKnownValue("echo.token", tfjsonpath.New("data").AtMapKey("access_token"), knownvalue.StringExact("fresh-token-value")),
		},
	}))
}

// TestAccAccessToken_DirectlyFromADeclaredClient fetches a token from the
// sandbox through the shared token code, with no ApiClient and no operator,
// and checks it is one the platform issued; a wrong secret fails with the
// platform's answer and without the secret in the message.
func TestAccAccessToken_DirectlyFromADeclaredClient(t *testing.T) {
	hcl := func() string {
		return fmt.Sprintf(`
variable "client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

ephemeral "keyport_access_token" "direct" {
  client = {
    token_url     = %q
    preset        = "OAuth2ClientCredentials"
    client_id     = %q
    client_secret = var.client_secret
    ca_bundle     = %q
  }
}
`+echoed("direct"), sb.URL()+"/connect/token", clientID, string(sb.CACertPEM()))
	}
	resource.Test(t, echoTestCase(resource.TestStep{
		Config:          hcl(),
		ConfigVariables: config.Variables{"client_secret": config.StringVariable(clientSecret)},
		ConfigStateChecks: []statecheck.StateCheck{
			statecheck.ExpectKnownValue("echo.token", tfjsonpath.New("data").AtMapKey("token_type"), knownvalue.StringExact("Bearer")),
			statecheck.ExpectKnownValue("echo.token", tfjsonpath.New("data").AtMapKey("secret_name"), knownvalue.Null()),
			issuedBySandbox{},
		},
	}))
	resource.Test(t, echoTestCase(resource.TestStep{
		Config:          hcl(),
		ConfigVariables: config.Variables{"client_secret": config.StringVariable("wrong-secret-Zq1")},
		ExpectError:     regexp.MustCompile(`(?s)Cannot obtain a token.*invalid_client`),
	}))
}

// issuedBySandbox checks that the echoed access token validates at the
// sandbox that issued it.
type issuedBySandbox struct{}

func (issuedBySandbox) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	for _, r := range req.State.Values.RootModule.Resources {
		if r.Address != "echo.token" {
			continue
		}
		data, _ := r.AttributeValues["data"].(map[string]any)
		tok, _ := data["access_token"].(string)
		if _, err := sb.Validate(tok); err != nil {
			resp.Error = fmt.Errorf("the token is not one the sandbox issued: %w", err)
		}
		return
	}
	resp.Error = fmt.Errorf("echo.token not in state")
}

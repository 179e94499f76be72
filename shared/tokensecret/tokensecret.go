// Package tokensecret is the contract of the Secret that holds an ApiClient's
// live token. The operator writes it with Render; workloads, the
// IngestionChannel controller and the Terraform provider read it with Parse.
// Workloads depend on these keys: keep them stable.
package tokensecret

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/keyport-dev/keyport/shared/safetemplate"
	"time"
)

// Keys of a token Secret.
const (
	KeyAccessToken   = "access_token"
	KeyTokenType     = "token_type"
	KeyAuthorization = "authorization"
	KeyExpiresAt     = "expires_at"
	KeyHeaders       = "headers.json"
)

// StandardKeys are the keys every token Secret has; a template cannot
// redefine them.
var StandardKeys = []string{KeyAccessToken, KeyTokenType, KeyAuthorization, KeyExpiresAt, KeyHeaders}

// Token is what a token Secret holds.
type Token struct {
	AccessToken string
	// TokenType as the header scheme, for example "Bearer".
	TokenType string
	ExpiresAt time.Time
	// Headers are the extra static headers every API call carries (such as a
	// subscription key), without Authorization.
	Headers map[string]string
}

// Authorization is the full Authorization header value.
func (t Token) Authorization() string {
	return t.TokenType + " " + t.AccessToken
}

// AllHeaders are the headers an API request needs: the static ones plus
// Authorization.
func (t Token) AllHeaders() map[string]string {
	all := make(map[string]string, len(t.Headers)+1)
	maps.Copy(all, t.Headers)
	all["Authorization"] = t.Authorization()
	return all
}

// templateData is what a user template sees.
type templateData struct {
	AccessToken   string
	TokenType     string
	Authorization string
	ExpiresAt     string
	Headers       map[string]string
}

// Render returns the Secret data for a token, with the keys of the user
// template (already validated by the API server not to clash) rendered too.
// Templates run under the bounds of shared/safetemplate, and their errors
// carry no value of the token.
func Render(t Token, userTemplate map[string]string) (map[string][]byte, error) {
	headers, err := json.Marshal(t.AllHeaders())
	if err != nil {
		return nil, fmt.Errorf("encode headers.json: %w", err)
	}
	data := map[string][]byte{
		KeyAccessToken:   []byte(t.AccessToken),
		KeyTokenType:     []byte(t.TokenType),
		KeyAuthorization: []byte(t.Authorization()),
		KeyExpiresAt:     []byte(t.ExpiresAt.UTC().Format(time.RFC3339)),
		KeyHeaders:       headers,
	}
	td := templateData{
		AccessToken:   t.AccessToken,
		TokenType:     t.TokenType,
		Authorization: t.Authorization(),
		ExpiresAt:     t.ExpiresAt.UTC().Format(time.RFC3339),
		Headers:       t.AllHeaders(),
	}
	// Sorted so that the first failing key is the same on every run.
	for _, key := range slices.Sorted(maps.Keys(userTemplate)) {
		if slices.Contains(StandardKeys, key) {
			return nil, fmt.Errorf("template key %q would overwrite a standard key", key)
		}
		tmpl, err := safetemplate.Parse(key, userTemplate[key], nil)
		if err != nil {
			return nil, fmt.Errorf("template key %q: %w", key, err)
		}
		out, err := safetemplate.Execute(tmpl, td, MaxTemplateOutput)
		if err != nil {
			return nil, fmt.Errorf("template key %q: %w", key, err)
		}
		data[key] = out
	}
	return data, nil
}

// Parse reads a token back from Secret data. It fails when the data is not a
// complete token Secret, for example after a hand edit.
func Parse(data map[string][]byte) (Token, error) {
	var t Token
	for _, key := range StandardKeys {
		if len(data[key]) == 0 {
			return t, fmt.Errorf("token Secret has no %q", key)
		}
	}
	t.AccessToken = string(data[KeyAccessToken])
	t.TokenType = string(data[KeyTokenType])
	expires, err := time.Parse(time.RFC3339, string(data[KeyExpiresAt]))
	if err != nil {
		return t, fmt.Errorf("token Secret has an unreadable %q", KeyExpiresAt)
	}
	t.ExpiresAt = expires
	var headers map[string]string
	if err := json.Unmarshal(data[KeyHeaders], &headers); err != nil {
		return t, fmt.Errorf("token Secret has an unreadable %q", KeyHeaders)
	}
	delete(headers, "Authorization")
	if len(headers) > 0 {
		t.Headers = headers
	}
	if string(data[KeyAuthorization]) != t.Authorization() {
		return t, fmt.Errorf("token Secret's %q does not match its token", KeyAuthorization)
	}
	return t, nil
}

// MaxTemplateOutput bounds what one template key may render to: a Secret
// holds at most 1 MiB, and a template must not make the operator build
// gigabytes trying.
const MaxTemplateOutput = 64 << 10

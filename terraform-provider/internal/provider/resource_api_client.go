package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ktypes "k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// fieldManager owns the fields this provider applies.
const fieldManager = "terraform-provider-keyport"

// NewApiClientResource returns the keyport_api_client resource.
func NewApiClientResource() resource.Resource { return &apiClientResource{} }

type apiClientResource struct {
	c *clients
}

func (r *apiClientResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_api_client"
}

func (r *apiClientResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "An ApiClient: one registered client of one partner platform, whose token the Keyport operator keeps fresh in a Secret. " +
			"The client secret is a write-only argument: it goes into the credentials Secret and never into state or plan.",
		Attributes: map[string]schema.Attribute{
			// Required
			"name":      schema.StringAttribute{Required: true, PlanModifiers: replace, MarkdownDescription: "Name of the ApiClient."},
			"token_url": schema.StringAttribute{Required: true, MarkdownDescription: "The platform's token endpoint (`https://`)."},
			// Optional
			"namespace": schema.StringAttribute{Optional: true, Computed: true, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace(), stringplanmodifier.UseStateForUnknown()},
				MarkdownDescription: "Namespace; defaults to the provider's."},
			"preset":                  schema.StringAttribute{Optional: true, MarkdownDescription: "A known platform dialect: `PortCommunityPassword`, `OAuth2ClientCredentials`, `BankM2M`, `PaymentJSON` or `SoftPOS`."},
			"environment":             schema.StringAttribute{Optional: true, PlanModifiers: replace, MarkdownDescription: "Platform environment, such as `uat` or `prd`. Changing it replaces the ApiClient."},
			"client_id":               schema.StringAttribute{Optional: true, MarkdownDescription: "The client id (not secret)."},
			"credentials_secret_name": schema.StringAttribute{Optional: true, Computed: true, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}, MarkdownDescription: "Secret holding the credentials. With `client_secret_wo` the provider writes it (default `<name>-credentials`); otherwise it must exist."},
			"client_secret_wo": schema.StringAttribute{Optional: true, WriteOnly: true, Sensitive: true,
				MarkdownDescription: "Write-only client secret, stored into the credentials Secret; never in state. Change `client_secret_wo_version` to write a new one."},
			"client_secret_wo_version": schema.Int64Attribute{Optional: true, MarkdownDescription: "Bump to write a new `client_secret_wo`."},
			"ca_bundle_secret_name":    schema.StringAttribute{Optional: true, MarkdownDescription: "Secret holding the PEM CA that verifies the token endpoint, instead of the system roots."},
			"ca_bundle_secret_key":     schema.StringAttribute{Optional: true, MarkdownDescription: "Key of the CA in `ca_bundle_secret_name`. Default `ca.crt`."},
			"scopes":                   schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Scopes requested."},
			"wait_for_ready": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true),
				MarkdownDescription: "Wait until the operator reports Ready for the applied generation."},
			"wait_timeout": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("5m"),
				MarkdownDescription: "How long to wait for Ready, as a Go duration."},
			// Computed
			"id":                 schema.StringAttribute{Computed: true, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}, MarkdownDescription: "`namespace/name`."},
			"output_secret_name": schema.StringAttribute{Computed: true, MarkdownDescription: "The Secret that holds the live token."},
			"token_expires_at":   schema.StringAttribute{Computed: true, MarkdownDescription: "Expiry of the current token (RFC 3339), as last reported."},
		},
	}
}

func (r *apiClientResource) Configure(_ context.Context, req resource.ConfigureRequest, _ *resource.ConfigureResponse) {
	if c, ok := req.ProviderData.(*clients); ok {
		r.c = c
	}
}

func (r *apiClientResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan apiClientModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	var secret types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("client_secret_wo"), &secret)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.apply(ctx, &plan, secret, true, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *apiClientResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state apiClientModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	var secret types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("client_secret_wo"), &secret)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// The write-only secret is written again only when its version changed.
	writeSecret := !plan.ClientSecretVersion.Equal(state.ClientSecretVersion)
	r.apply(ctx, &plan, secret, writeSecret, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// apply writes the credentials Secret (when a write-only secret is given)
// and the ApiClient with server-side apply, then waits for Ready.
func (r *apiClientResource) apply(ctx context.Context, m *apiClientModel, secret types.String, writeSecret bool, diags diagAppender) {
	if m.Namespace.ValueString() == "" {
		m.Namespace = types.StringValue(r.c.namespace)
	}
	ns, name := m.Namespace.ValueString(), m.Name.ValueString()
	m.ID = types.StringValue(ns + "/" + name)
	if !secret.IsNull() && m.CredentialsSecretName.ValueString() == "" {
		m.CredentialsSecretName = types.StringValue(name + "-credentials")
	}
	if m.CredentialsSecretName.IsUnknown() {
		m.CredentialsSecretName = types.StringNull()
	}
	if !secret.IsNull() && writeSecret {
		s := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: m.CredentialsSecretName.ValueString(), Namespace: ns},
			Data:       map[string][]byte{"client_secret": []byte(secret.ValueString())}}
		if id := m.ClientID.ValueString(); id != "" {
			s.Data["client_id"] = []byte(id)
		}
		if err := r.c.kube.Patch(ctx, s, client.Apply, client.FieldOwner(fieldManager), client.ForceOwnership); err != nil {
			// The error names the Secret, never its data.
			diags.AddError("Cannot write the credentials Secret", fmt.Sprintf("Secret %s/%s: %v", ns, s.Name, apierrors.ReasonForError(err)))
			return
		}
	}
	ac := toApiClient(m)
	if err := r.c.kube.Patch(ctx, ac, client.Apply, client.FieldOwner(fieldManager), client.ForceOwnership); err != nil {
		diags.AddError("Cannot apply the ApiClient", err.Error())
		return
	}
	if m.WaitForReady.ValueBool() {
		timeout, err := time.ParseDuration(m.WaitTimeout.ValueString())
		if err != nil {
			diags.AddError("Invalid wait_timeout", err.Error())
			return
		}
		if err := r.waitReady(ctx, ns, name, ac.Generation, timeout); err != nil {
			diags.AddError("The ApiClient did not become Ready", err.Error())
			return
		}
	}
	r.readStatus(ctx, m, diags)
}

// terminalReasons fail the wait at once: waiting longer does not help.
var terminalReasons = map[string]bool{
	keyportv1.ReasonInvalidCredentials: true, keyportv1.ReasonCredentialsNotFound: true, keyportv1.ReasonPolicyInfeasible: true,
}

// waitReady waits for Ready=True computed for the generation just written:
// a Ready left over from an older generation does not count.
func (r *apiClientResource) waitReady(ctx context.Context, ns, name string, generation int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "no status yet"
	for {
		ac := &keyportv1.ApiClient{}
		if err := r.c.kube.Get(ctx, ktypes.NamespacedName{Namespace: ns, Name: name}, ac); err != nil {
			return err
		}
		if generation == 0 {
			generation = ac.Generation
		}
		if c := apimeta.FindStatusCondition(ac.Status.Conditions, keyportv1.ConditionReady); c != nil && c.ObservedGeneration >= generation {
			if c.Status == metav1.ConditionTrue {
				return nil
			}
			if terminalReasons[c.Reason] {
				return fmt.Errorf("%s: %s", c.Reason, c.Message)
			}
			last = c.Reason + ": " + c.Message
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not Ready after %v; last: %s", timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (r *apiClientResource) readStatus(ctx context.Context, m *apiClientModel, diags diagAppender) {
	ac := &keyportv1.ApiClient{}
	if err := r.c.kube.Get(ctx, ktypes.NamespacedName{Namespace: m.Namespace.ValueString(), Name: m.Name.ValueString()}, ac); err != nil {
		diags.AddError("Cannot read the ApiClient", err.Error())
		return
	}
	m.OutputSecretName = types.StringValue(ac.Status.OutputSecretName)
	m.TokenExpiresAt = types.StringValue("")
	if t := ac.Status.TokenExpiresAt; t != nil {
		m.TokenExpiresAt = types.StringValue(t.UTC().Format(time.RFC3339))
	}
}

func (r *apiClientResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state apiClientModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ac := &keyportv1.ApiClient{}
	err := r.c.kube.Get(ctx, ktypes.NamespacedName{Namespace: state.Namespace.ValueString(), Name: state.Name.ValueString()}, ac)
	if apierrors.IsNotFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the ApiClient", err.Error())
		return
	}
	fromApiClient(ac, &state)
	r.readStatus(ctx, &state, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *apiClientResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state apiClientModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ac := &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Namespace: state.Namespace.ValueString(), Name: state.Name.ValueString()}}
	if err := r.c.kube.Delete(ctx, ac); err != nil && !apierrors.IsNotFound(err) {
		resp.Diagnostics.AddError("Cannot delete the ApiClient", err.Error())
	}
}

func (r *apiClientResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	ns, name, ok := strings.Cut(req.ID, "/")
	if !ok || ns == "" || name == "" {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("want namespace/name, got %q", req.ID))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("namespace"), ns)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), name)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("wait_for_ready"), true)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("wait_timeout"), "5m")...)
}

// diagAppender is the part of diag.Diagnostics the helpers use.
type diagAppender interface {
	AddError(summary, detail string)
}

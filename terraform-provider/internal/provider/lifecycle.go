package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// The lifecycle every Keyport resource shares: server-side apply of the
// custom resource, the wait for Ready of the generation just written, drift
// and removal on Read, deletion that waits for finalizers, and import by
// namespace/name. Each resource file describes its kind with a kind value;
// the mapping between its model and the API type lives in its mapping file.

// fieldManager owns the fields this provider applies to custom resources;
// keys of Secrets have a manager per resource (secretManager).
const fieldManager = "terraform-provider-keyport"

// defaultTimeout bounds create, update and delete unless timeouts says
// otherwise.
const defaultTimeout = 5 * time.Minute

// pollInterval is how often the wait looks at the status. Tests shorten it.
var pollInterval = time.Second

// model is implemented by every resource model through baseModel.
type model interface{ base() *baseModel }

// modelPtr lets the generic code create a model M and use it as a model.
type modelPtr[M any] interface {
	*M
	model
}

// kind describes one Keyport custom resource.
type kind[M any, P modelPtr[M], O client.Object] struct {
	// typeName follows "keyport_", for example "api_client".
	typeName string
	// name is the Kubernetes kind, for example "ApiClient".
	name   string
	schema func(ctx context.Context) schema.Schema

	newObject func() O
	// toObject builds the object to apply from a plan: only the fields the
	// user declared, so that server-side apply leaves others' fields alone.
	toObject func(P) O
	// fromSpec reads the spec back into a model (drift shows in plans);
	// fromStatus fills the computed attributes from the status.
	fromSpec   func(O, P)
	fromStatus func(O, P)

	// terminal reasons fail the wait at once.
	terminal map[string]bool

	configValidators []resource.ConfigValidator
	// validateConfig, modifyPlan and stored are optional.
	validateConfig func(ctx context.Context, cfg tfsdk.Config, diags *diag.Diagnostics)
	modifyPlan     func(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse)
	// stored lists the values the provider keeps in Secrets the resource
	// references. With cfg nil it gives locations and versions only (for a
	// prior state); with cfg it reads the write-only values too.
	stored func(ctx context.Context, m P, cfg *tfsdk.Config) ([]storedValue, diag.Diagnostics)
}

// crdResource is a Terraform resource for one Keyport kind.
type crdResource[M any, P modelPtr[M], O client.Object] struct {
	k *kind[M, P, O]
	c *clients
}

var (
	_ resource.ResourceWithConfigure        = (*crdResource[apiClientModel, *apiClientModel, *keyportv1.ApiClient])(nil)
	_ resource.ResourceWithImportState      = (*crdResource[apiClientModel, *apiClientModel, *keyportv1.ApiClient])(nil)
	_ resource.ResourceWithModifyPlan       = (*crdResource[apiClientModel, *apiClientModel, *keyportv1.ApiClient])(nil)
	_ resource.ResourceWithConfigValidators = (*crdResource[apiClientModel, *apiClientModel, *keyportv1.ApiClient])(nil)
	_ resource.ResourceWithValidateConfig   = (*crdResource[apiClientModel, *apiClientModel, *keyportv1.ApiClient])(nil)
)

func (r *crdResource[M, P, O]) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + r.k.typeName
}

func (r *crdResource[M, P, O]) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = r.k.schema(ctx)
}

func (r *crdResource[M, P, O]) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if c, ok := configuredClients(req.ProviderData, &resp.Diagnostics); ok {
		r.c = c
	}
}

func (r *crdResource[M, P, O]) ConfigValidators(context.Context) []resource.ConfigValidator {
	return r.k.configValidators
}

func (r *crdResource[M, P, O]) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	if r.k.validateConfig != nil {
		r.k.validateConfig(ctx, req.Config, &resp.Diagnostics)
	}
}

// ModifyPlan fills the namespace from the provider, replaces the resource
// when the namespace changes, and runs the kind's own plan logic.
func (r *crdResource[M, P, O]) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var ns types.String
	resp.Diagnostics.Append(resp.Plan.GetAttribute(ctx, path.Root("namespace"), &ns)...)
	if ns.IsUnknown() {
		var configured types.String
		resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("namespace"), &configured)...)
		if configured.IsNull() && r.c != nil && r.c.namespaceKnown {
			ns = types.StringValue(r.c.namespace)
			resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("namespace"), ns)...)
		}
	}
	if !req.State.Raw.IsNull() && !ns.IsUnknown() {
		var prior types.String
		resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("namespace"), &prior)...)
		if !prior.IsNull() && !prior.Equal(ns) {
			resp.RequiresReplace.Append(path.Root("namespace"))
		}
	}
	if r.k.modifyPlan != nil && !resp.Diagnostics.HasError() {
		r.k.modifyPlan(ctx, req, resp)
	}
}

func (r *crdResource[M, P, O]) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan M
	p := P(&plan)
	resp.Diagnostics.Append(req.Plan.Get(ctx, p)...)
	ctx, cancel, kube, timeout := r.begin(ctx, p.base().Timeouts.Create, &resp.Diagnostics)
	defer cancel()
	if kube == nil {
		return
	}

	b := p.base()
	if b.Namespace.IsUnknown() || b.Namespace.IsNull() {
		b.Namespace = types.StringValue(r.c.namespace)
	}
	key := keyOf(b)
	b.ID = types.StringValue(key.String())

	// Server-side apply would silently adopt an object that someone else
	// created; Terraform should import it instead.
	existing := r.k.newObject()
	switch err := kube.Get(ctx, key, existing); {
	case err == nil:
		resp.Diagnostics.AddError(r.k.name+" already exists",
			fmt.Sprintf("%s %s already exists in the cluster. Import it to manage it with Terraform: terraform import keyport_%s.<name> %s",
				r.k.name, key, r.k.typeName, key))
		return
	case !apierrors.IsNotFound(err):
		r.cannot(&resp.Diagnostics, "read", key, err)
		return
	}

	if _, ok := r.writeStored(ctx, kube, p, nil, req.Config, &resp.Diagnostics); !ok {
		return
	}
	generation, err := r.apply(ctx, kube, p)
	if err != nil {
		r.cannot(&resp.Diagnostics, "apply", key, err)
		// Nothing will be in state to remember the credentials just written.
		r.releaseStored(context.WithoutCancel(ctx), kube, p, &resp.Diagnostics)
		return
	}
	r.finish(ctx, kube, key, p, generation, nil, timeout, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, p)...)
}

func (r *crdResource[M, P, O]) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state M
	p, s := P(&plan), P(&state)
	resp.Diagnostics.Append(req.Plan.Get(ctx, p)...)
	resp.Diagnostics.Append(req.State.Get(ctx, s)...)
	ctx, cancel, kube, timeout := r.begin(ctx, p.base().Timeouts.Update, &resp.Diagnostics)
	defer cancel()
	if kube == nil {
		return
	}

	b := p.base()
	key := keyOf(b)
	b.ID = types.StringValue(key.String())

	before := r.k.newObject()
	existed := true
	if err := kube.Get(ctx, key, before); err != nil {
		if !apierrors.IsNotFound(err) {
			r.cannot(&resp.Diagnostics, "read", key, err)
			return
		}
		existed = false
	}
	changed, ok := r.writeStored(ctx, kube, p, s, req.Config, &resp.Diagnostics)
	if !ok {
		return
	}
	generation, err := r.apply(ctx, kube, p)
	if err != nil {
		r.cannot(&resp.Diagnostics, "apply", key, err)
		return
	}
	// A rotated credential changes a Secret, not the spec: the generation
	// stays, so the wait needs to see the status move first.
	var baseline *statusView
	if changed && existed && before.GetGeneration() == generation {
		if st, err := statusOf(before); err == nil {
			baseline = &st
		}
	}
	r.finish(ctx, kube, key, p, generation, baseline, timeout, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, p)...)
}

// finish waits for Ready when asked to and fills the computed attributes
// from the status.
func (r *crdResource[M, P, O]) finish(ctx context.Context, kube client.Client, key ktypes.NamespacedName, p P, generation int64, baseline *statusView, timeout time.Duration, diags *diag.Diagnostics) {
	var obj O
	got := false
	if p.base().WaitForReady.ValueBool() {
		obj, got = r.waitReady(ctx, kube, key, generation, baseline, timeout, diags)
	}
	if !got {
		latest := r.k.newObject()
		// A fresh context: the wait may have used up the create's.
		getCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := kube.Get(getCtx, key, latest); err != nil {
			if !diags.HasError() {
				r.cannot(diags, "read", key, err)
			}
			latest = r.k.newObject() // computed attributes become null
		}
		obj = latest
	}
	r.k.fromStatus(obj, p)
}

// waitReady polls until judge says the resource is Ready for generation or
// has failed for good, or the timeout passes.
func (r *crdResource[M, P, O]) waitReady(ctx context.Context, kube client.Client, key ktypes.NamespacedName, generation int64, baseline *statusView, timeout time.Duration, diags *diag.Diagnostics) (O, bool) {
	var zero O
	last := "no status yet"
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		obj := r.k.newObject()
		err := kube.Get(ctx, key, obj)
		switch {
		case err == nil:
			st, serr := statusOf(obj)
			if serr != nil {
				diags.AddError("Cannot read the "+r.k.name+" status", serr.Error())
				return zero, false
			}
			v := judge(generation, st, baseline, r.k.terminal)
			switch v.outcome {
			case ready:
				if v.warning != "" {
					diags.AddWarning(r.k.name+" is Ready but Degraded",
						fmt.Sprintf("%s %s is Ready for generation %d, but the operator reports %s", r.k.name, key, generation, v.warning))
				}
				return obj, true
			case failed:
				diags.AddError(r.k.name+" failed",
					fmt.Sprintf("The operator reports %s %s (generation %d) as %s", r.k.name, key, generation, v.detail))
				return obj, true
			}
			last = v.detail
		case apierrors.IsNotFound(err):
			diags.AddError(r.k.name+" disappeared", fmt.Sprintf("%s %s was deleted while waiting for it to become Ready", r.k.name, key))
			return zero, false
		case apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err):
			r.cannot(diags, "read", key, err)
			return zero, false
		case ctx.Err() == nil:
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			diags.AddError("Timed out waiting for the "+r.k.name+" to become Ready",
				fmt.Sprintf("%s %s did not become Ready for generation %d within %s; last seen: %s. "+
					"Is the Keyport operator running? Raise timeouts, or set wait_for_ready = false to apply without waiting.",
					r.k.name, key, generation, timeout, last))
			return zero, false
		case <-ticker.C:
		}
	}
}

func (r *crdResource[M, P, O]) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state M
	s := P(&state)
	resp.Diagnostics.Append(req.State.Get(ctx, s)...)
	kube := r.c.connect(&resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	b := s.base()
	key := keyOf(b)
	obj := r.k.newObject()
	err := kube.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		// Deleted behind Terraform's back: plan to create it again.
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		r.cannot(&resp.Diagnostics, "read", key, err)
		return
	}
	b.ID = types.StringValue(key.String())
	if b.WaitForReady.IsNull() {
		b.WaitForReady = types.BoolValue(true)
	}
	r.k.fromSpec(obj, s)
	r.k.fromStatus(obj, s)
	resp.Diagnostics.Append(resp.State.Set(ctx, s)...)
}

func (r *crdResource[M, P, O]) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state M
	s := P(&state)
	resp.Diagnostics.Append(req.State.Get(ctx, s)...)
	ctx, cancel, kube, timeout := r.begin(ctx, s.base().Timeouts.Delete, &resp.Diagnostics)
	defer cancel()
	if kube == nil {
		return
	}
	key := keyOf(s.base())
	obj := r.k.newObject()
	obj.SetNamespace(key.Namespace)
	obj.SetName(key.Name)
	if err := kube.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
		r.cannot(&resp.Diagnostics, "delete", key, err)
		return
	}
	if !r.waitGone(ctx, kube, key, timeout, &resp.Diagnostics) {
		return
	}
	// The credentials the provider wrote go with the resource.
	r.releaseStored(ctx, kube, s, &resp.Diagnostics)
}

// releaseStored takes the values the provider keeps for m out of their
// Secrets; a failure is a warning, since the resource itself is done.
func (r *crdResource[M, P, O]) releaseStored(ctx context.Context, kube client.Client, m P, diags *diag.Diagnostics) {
	if r.k.stored == nil {
		return
	}
	values, d := r.k.stored(ctx, m, nil)
	diags.Append(d...)
	if err := releaseSecrets(ctx, kube, m.base().Namespace.ValueString(), r.secretManager(m), values); err != nil {
		diags.AddWarning("Cannot remove the credentials the provider stored",
			fmt.Sprintf("Removing the values the provider wrote into the Secrets of %s %s/%s failed: %v",
				r.k.name, m.base().Namespace.ValueString(), m.base().Name.ValueString(), err))
	}
}

// waitGone waits until the object is gone: an operator's finalizer may hold
// it while the operator cleans up at the platform.
func (r *crdResource[M, P, O]) waitGone(ctx context.Context, kube client.Client, key ktypes.NamespacedName, timeout time.Duration, diags *diag.Diagnostics) bool {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var last client.Object
	for {
		obj := r.k.newObject()
		err := kube.Get(ctx, key, obj)
		if apierrors.IsNotFound(err) {
			return true
		}
		if err == nil {
			last = obj
		}
		select {
		case <-ctx.Done():
			why := "it still exists"
			if last != nil {
				why = blockedBy(last)
			}
			diags.AddError("Timed out waiting for the "+r.k.name+" to be deleted",
				fmt.Sprintf("%s %s was deleted but is still there after %s: %s. The operator removes its finalizers once it has "+
					"cleaned up (for example the registration at the platform); check that it is running and what it reports, "+
					"or raise timeouts.delete.", r.k.name, key, timeout, why))
			return false
		case <-ticker.C:
		}
	}
}

// blockedBy says what holds an object that is being deleted.
func blockedBy(obj client.Object) string {
	var parts []string
	if f := obj.GetFinalizers(); len(f) > 0 {
		parts = append(parts, "finalizers "+strings.Join(f, ", ")+" are still present")
	}
	if st, err := statusOf(obj); err == nil {
		for _, c := range st.Conditions {
			if c.Type == keyportv1.ConditionReady || c.Reason == keyportv1.ReasonDeletionBlocked {
				parts = append(parts, "the operator reports "+c.Type+" "+describe(&c))
				break
			}
		}
	}
	if len(parts) == 0 {
		return "it still exists"
	}
	return strings.Join(parts, "; ")
}

func (r *crdResource[M, P, O]) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	ns, name, ok := strings.Cut(req.ID, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("Import a %s by namespace/name, for example integrations/my-client; got %q", r.k.name, req.ID))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("namespace"), ns)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), name)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("wait_for_ready"), true)...)
}

// begin bounds ctx by the operation's timeout (timeoutOf is the Create,
// Update or Delete of the model's timeouts) and connects to the cluster.
// kube is nil when diags hold an error, the model's own included; cancel is
// never nil.
func (r *crdResource[M, P, O]) begin(ctx context.Context, timeoutOf func(context.Context, time.Duration) (time.Duration, diag.Diagnostics), diags *diag.Diagnostics) (_ context.Context, cancel context.CancelFunc, kube client.Client, timeout time.Duration) {
	if diags.HasError() {
		return ctx, func() {}, nil, 0
	}
	timeout, d := timeoutOf(ctx, defaultTimeout)
	diags.Append(d...)
	kube = r.c.connect(diags)
	if diags.HasError() {
		return ctx, func() {}, nil, 0
	}
	ctx, cancel = context.WithTimeout(ctx, timeout)
	return ctx, cancel, kube, timeout
}

// cannot reports that the verb ("read", "apply", "delete") on the object
// key failed.
func (r *crdResource[M, P, O]) cannot(diags *diag.Diagnostics, verb string, key ktypes.NamespacedName, err error) {
	diags.AddError("Cannot "+verb+" the "+r.k.name, fmt.Sprintf("%s %s: %v", r.k.name, key, err))
}

// keyOf names the object of a model.
func keyOf(b *baseModel) ktypes.NamespacedName {
	return ktypes.NamespacedName{Namespace: b.Namespace.ValueString(), Name: b.Name.ValueString()}
}

// apply writes the object with server-side apply and returns its new
// generation.
func (r *crdResource[M, P, O]) apply(ctx context.Context, kube client.Client, p P) (int64, error) {
	obj := r.k.toObject(p)
	obj.GetObjectKind().SetGroupVersionKind(keyportv1.GroupVersion.WithKind(r.k.name))
	return applyObject(ctx, kube, obj, fieldManager)
}

// secretManager is the field manager of the keys m writes into Secrets.
func (r *crdResource[M, P, O]) secretManager(m P) string {
	return secretManager(r.k.typeName, m.base().Name.ValueString())
}

// applyObject server-side applies obj as manager, taking over fields
// another manager changed (Terraform's configuration is the truth).
func applyObject(ctx context.Context, kube client.Client, obj client.Object, manager string) (int64, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return 0, err
	}
	// Only the fields the user declared: no status, no zero timestamps.
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	uo := &unstructured.Unstructured{Object: u}
	uo.SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
	if uo.GetKind() == "" {
		return 0, errors.New("bug: object to apply has no kind")
	}
	if err := kube.Apply(ctx, client.ApplyConfigurationFromUnstructured(uo), client.FieldOwner(manager), client.ForceOwnership); err != nil {
		return 0, err
	}
	return uo.GetGeneration(), nil
}

// writeStored writes the values the kind keeps in Secrets. It reports
// whether any Secret's content changed, and false in ok on error.
func (r *crdResource[M, P, O]) writeStored(ctx context.Context, kube client.Client, plan, state P, cfg tfsdk.Config, diags *diag.Diagnostics) (changed, ok bool) {
	if r.k.stored == nil {
		return false, true
	}
	desired, d := r.k.stored(ctx, plan, &cfg)
	diags.Append(d...)
	var prior []storedValue
	if state != nil {
		prior, d = r.k.stored(ctx, state, nil)
		diags.Append(d...)
	}
	if diags.HasError() {
		return false, false
	}
	changed, err := writeSecrets(ctx, kube, plan.base().Namespace.ValueString(), r.secretManager(plan), desired, prior)
	if err != nil {
		diags.AddError("Cannot write the credentials Secret", err.Error())
		return false, false
	}
	return changed, true
}

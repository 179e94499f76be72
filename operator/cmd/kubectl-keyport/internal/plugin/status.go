package plugin

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyport-dev/keyport/operator/internal/conditions"
)

// statusReport is what `status` prints, as text or as JSON.
type statusReport struct {
	Kind               string      `json:"kind"`
	Namespace          string      `json:"namespace"`
	Name               string      `json:"name"`
	Generation         int64       `json:"generation"`
	ObservedGeneration int64       `json:"observedGeneration"`
	Conditions         []condition `json:"conditions"`
	// ValidityOf names what the validity facts are about: the token, the
	// certificate, the webhook credentials.
	ValidityOf   string      `json:"validityOf"`
	Validity     []fact      `json:"validity"`
	OutputSecret *secretInfo `json:"outputSecret,omitempty"`
	Uses         []ref       `json:"uses"`
	ReferencedBy []ref       `json:"referencedBy"`
	// MountedBy and Events are null when they could not be listed.
	MountedBy []ref   `json:"mountedBy"`
	Events    []event `json:"events"`
	// Notes are what could not be looked up (a list the user may not read).
	Notes []string `json:"notes,omitempty"`
}

type condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason"`
	Message            string    `json:"message,omitempty"`
	ObservedGeneration int64     `json:"observedGeneration"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// fact is one line of the validity section: a time, or a value.
type fact struct {
	Label  string     `json:"label"`
	Time   *time.Time `json:"time,omitempty"`
	Value  string     `json:"value,omitempty"`
	Source string     `json:"source,omitempty"`
}

type secretInfo struct {
	Name             string `json:"name"`
	Exists           bool   `json:"exists"`
	ManagedByKeyport bool   `json:"managedByKeyport"`
	// Deleting is set while the Secret waits for a finalizer.
	Deleting bool `json:"deleting,omitempty"`
}

// ref is another object related to the one shown.
type ref struct {
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Via   string `json:"via"`
	Found bool   `json:"found"`
	// Ready and Reason are the Ready condition of a Keyport resource.
	Ready  string `json:"ready,omitempty"`
	Reason string `json:"reason,omitempty"`
}

type event struct {
	Type     string    `json:"type"`
	Reason   string    `json:"reason"`
	Message  string    `json:"message"`
	Count    int32     `json:"count"`
	LastSeen time.Time `json:"lastSeen"`
	Source   string    `json:"source,omitempty"`
}

// maxEvents is how many of the latest events status shows.
const maxEvents = 10

func newStatusCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "status KIND NAME",
		Short: "Conditions, token or certificate validity, next refresh, output Secret, references and recent events of a resource",
		Example: `  kubectl keyport status apiclient port-api -n team-a
  kubectl keyport status m2mcert bank-client
  kubectl keyport status ingch/customer-a -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, k, name, err := o.sessionFor(args)
			if err != nil {
				return err
			}
			r, err := s.status(ctx(cmd), k, name)
			if err != nil {
				return err
			}
			return o.print(r, func(w io.Writer) { r.write(w, s.now) })
		},
	}
}

// status gathers the report of one object.
func (s *session) status(ctx context.Context, k kind, name string) (*statusReport, error) {
	obj, err := s.get(ctx, k, name)
	if err != nil {
		return nil, err
	}
	r := &statusReport{Kind: k.name, Namespace: s.namespace, Name: name, Generation: obj.GetGeneration(),
		Uses: []ref{}, ReferencedBy: []ref{}, Validity: []fact{}}
	d := describers[k.name]
	r.ObservedGeneration = conditions.ObservedGenerationOf(obj)
	r.Conditions = conditionsOf(conditions.Of(obj))
	r.ValidityOf = d.validityOf
	secretName := d.describe(ctx, s, obj, r)
	if secretName != "" {
		r.OutputSecret = s.secretInfo(ctx, secretName)
		if r.OutputSecret.Exists {
			r.MountedBy = s.mountedBy(ctx, secretName, r)
		}
	}
	r.Events = s.events(ctx, obj, r)
	return r, nil
}

// conditionsOf copies the conditions in the order a person reads them:
// Ready first.
func conditionsOf(conds []metav1.Condition) []condition {
	out := make([]condition, 0, len(conds))
	for _, c := range conds {
		out = append(out, condition{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message,
			ObservedGeneration: c.ObservedGeneration, LastTransitionTime: c.LastTransitionTime.UTC()})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Type == "Ready" && out[j].Type != "Ready" })
	return out
}

// secretMeta reads only a Secret's metadata: status never downloads a
// Secret's values.
func (s *session) secretMeta(ctx context.Context, name string) (*metav1.PartialObjectMetadata, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: name}, m)
	return m, err
}

func (s *session) secretInfo(ctx context.Context, name string) *secretInfo {
	info := &secretInfo{Name: name}
	m, err := s.secretMeta(ctx, name)
	if err != nil {
		return info
	}
	info.Exists = true
	info.ManagedByKeyport = m.Labels["app.kubernetes.io/managed-by"] == "keyport"
	info.Deleting = m.DeletionTimestamp != nil
	return info
}

// secretRef is a Secret the object reads, and whether it exists.
func (s *session) secretRef(ctx context.Context, name, via string, r *statusReport) ref {
	_, err := s.secretMeta(ctx, name)
	if err != nil && !apierrors.IsNotFound(err) {
		r.Notes = append(r.Notes, fmt.Sprintf("cannot read Secret %q: %v", name, reasonOf(err)))
	}
	return ref{Kind: "Secret", Name: name, Via: via, Found: err == nil}
}

// keyportRef is another Keyport resource and its Ready condition.
func (s *session) keyportRef(ctx context.Context, kindName, name, via string, r *statusReport) ref {
	k, _ := resolveKind(kindName)
	out := ref{Kind: k.name, Name: name, Via: via}
	obj := k.newObj()
	if err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: name}, obj); err != nil {
		if !apierrors.IsNotFound(err) {
			r.Notes = append(r.Notes, fmt.Sprintf("cannot read %s %q: %v", k.name, name, reasonOf(err)))
		}
		return out
	}
	out.Found = true
	out.Ready, out.Reason = readyOf(obj)
	return out
}

// list lists one kind in the namespace, noting a refusal instead of
// failing: the rest of the report is still worth printing.
func (s *session) list(ctx context.Context, l client.ObjectList, what string, r *statusReport) bool {
	if err := s.c.List(ctx, l, client.InNamespace(s.namespace)); err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("cannot list %s: %v", what, reasonOf(err)))
		return false
	}
	return true
}

// mountedBy lists the Pods that use the Secret, through a volume or an
// environment variable; nil when Pods cannot be listed.
func (s *session) mountedBy(ctx context.Context, secret string, r *statusReport) []ref {
	pods := &corev1.PodList{}
	if !s.list(ctx, pods, "Pods", r) {
		return nil
	}
	out := []ref{}
	for _, p := range pods.Items {
		if via := podUses(&p.Spec, secret); via != "" {
			out = append(out, ref{Kind: "Pod", Name: p.Name, Via: via, Found: true, Ready: string(p.Status.Phase)})
		}
	}
	return out
}

// podUses says how a pod spec uses a Secret, "" when it does not.
func podUses(spec *corev1.PodSpec, secret string) string {
	for _, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == secret {
			return "volume " + v.Name
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil && src.Secret.Name == secret {
					return "volume " + v.Name
				}
			}
		}
	}
	containers := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for _, c := range containers {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil && e.SecretRef.Name == secret {
				return "envFrom in container " + c.Name
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == secret {
				return "env " + e.Name + " in container " + c.Name
			}
		}
	}
	return ""
}

// events lists the object's latest events, newest first; nil when events
// cannot be listed.
func (s *session) events(ctx context.Context, obj client.Object, r *statusReport) []event {
	list := &corev1.EventList{}
	if err := s.c.List(ctx, list, client.InNamespace(s.namespace),
		client.MatchingFields{"involvedObject.uid": string(obj.GetUID())}); err != nil {
		r.Notes = append(r.Notes, "cannot list events: "+reasonOf(err))
		return nil
	}
	out := []event{}
	for _, e := range list.Items {
		count := e.Count
		if e.Series != nil && e.Series.Count > count {
			count = e.Series.Count
		}
		if count == 0 {
			count = 1
		}
		source := e.Source.Component
		if source == "" {
			source = e.ReportingController
		}
		out = append(out, event{Type: e.Type, Reason: e.Reason, Message: e.Message, Count: count,
			LastSeen: lastSeen(&e), Source: source})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastSeen.After(out[j].LastSeen) })
	if len(out) > maxEvents {
		out = out[:maxEvents]
	}
	return out
}

// lastSeen is the latest time an event is known to have happened; events
// written through the events.k8s.io API fill other fields than the
// core ones.
func lastSeen(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.UTC()
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.UTC()
	case !e.EventTime.IsZero():
		return e.EventTime.UTC()
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.UTC()
	}
	return e.CreationTimestamp.UTC()
}

// reasonOf shortens an API error to what a person acts on.
func reasonOf(err error) string {
	switch {
	case apierrors.IsForbidden(err):
		return "forbidden (your account lacks the permission)"
	case apierrors.IsNotFound(err):
		return "not found"
	}
	return err.Error()
}

// write prints the report as text.
func (r *statusReport) write(w io.Writer, now time.Time) {
	fmt.Fprintf(w, "%s %s/%s (generation %d, status observed %d)\n", r.Kind, r.Namespace, r.Name, r.Generation, r.ObservedGeneration)

	fmt.Fprintln(w, "\nConditions:")
	if len(r.Conditions) == 0 {
		fmt.Fprintln(w, "  none yet: the operator has not reconciled this resource")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range r.Conditions {
		stale := ""
		if c.ObservedGeneration != r.Generation {
			stale = fmt.Sprintf("  (for generation %d)", c.ObservedGeneration)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\tsince %s%s\n", c.Type, c.Status, c.Reason, when(c.LastTransitionTime, now), stale)
	}
	_ = tw.Flush()
	for _, c := range r.Conditions {
		if c.Message != "" {
			fmt.Fprintf(w, "  %s: %s\n", c.Type, c.Message)
		}
	}

	fmt.Fprintf(w, "\n%s:\n", capitalize(r.ValidityOf))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(r.Validity) == 0 {
		fmt.Fprintln(tw, "  nothing known yet")
	}
	for _, f := range r.Validity {
		v := f.Value
		if f.Time != nil {
			v = when(*f.Time, now)
		}
		src := ""
		if f.Source != "" {
			src = "\t(" + f.Source + ")"
		}
		fmt.Fprintf(tw, "  %s:\t%s%s\n", f.Label, v, src)
	}
	_ = tw.Flush()

	if r.OutputSecret != nil {
		o := r.OutputSecret
		state := "does not exist"
		if o.Exists {
			state = "exists"
			if o.ManagedByKeyport {
				state += ", written by Keyport"
			}
			if o.Deleting {
				state += ", being deleted"
			}
		}
		fmt.Fprintf(w, "\nOutput Secret: %s (%s)\n", o.Name, state)
	}
	writeRefs(w, "Uses", r.Uses)
	writeRefs(w, "Referenced by", r.ReferencedBy)
	if r.OutputSecret != nil && r.OutputSecret.Exists {
		writeRefs(w, "Mounted by", r.MountedBy)
	}

	fmt.Fprintln(w, "\nEvents:")
	switch {
	case r.Events == nil:
		fmt.Fprintln(w, "  unknown (see the notes)")
	case len(r.Events) == 0:
		fmt.Fprintln(w, "  none")
	default:
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  LAST SEEN\tTYPE\tREASON\tCOUNT\tMESSAGE")
		for _, e := range r.Events {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\n", ago(e.LastSeen, now), e.Type, e.Reason, e.Count, oneLine(e.Message))
		}
		_ = tw.Flush()
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
}

func writeRefs(w io.Writer, title string, refs []ref) {
	fmt.Fprintf(w, "\n%s:\n", title)
	switch {
	case refs == nil:
		fmt.Fprintln(w, "  unknown (see the notes)")
		return
	case len(refs) == 0:
		fmt.Fprintln(w, "  none")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, x := range refs {
		state := "not found"
		switch {
		case x.Found && x.Kind == "Pod":
			state = x.Ready
		case x.Found && x.Ready != "":
			state = "Ready=" + x.Ready + " " + x.Reason
		case x.Found && x.Kind == "Secret":
			state = "exists"
		case x.Found:
			state = "not reconciled yet"
		}
		fmt.Fprintf(tw, "  %s %s\t%s\t%s\n", x.Kind, x.Name, x.Via, state)
	}
	_ = tw.Flush()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

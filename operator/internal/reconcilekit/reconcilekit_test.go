package reconcilekit

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/conditions"
)

type channel = keyportv1.NotificationChannel

func parts(nc *channel) (*keyportv1.NotificationChannelStatus, *int64, *[]metav1.Condition) {
	return &nc.Status, &nc.Status.ObservedGeneration, &nc.Status.Conditions
}

// fixture is a fake API server holding one channel, counting status
// patches, and a Status for channels whose LastSyncedTime alone is not
// worth a write.
type fixture struct {
	client  client.Client
	events  *record.FakeRecorder
	status  *Status[*channel, keyportv1.NotificationChannelStatus]
	patches int
}

func newFixture(t *testing.T, remember bool) *fixture {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := keyportv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	f := &fixture{events: record.NewFakeRecorder(20)}
	f.client = fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&channel{}).
		WithObjects(&channel{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns", Generation: 3, UID: "u1"}}).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			f.patches++
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		}}).Build()
	f.status = &Status[*channel, keyportv1.NotificationChannelStatus]{Client: f.client, Recorder: f.events, Parts: parts, Remember: remember,
		Normalize: func(before, after *keyportv1.NotificationChannelStatus) {
			if before.LastSyncedTime != nil && after.LastSyncedTime != nil {
				after.LastSyncedTime = before.LastSyncedTime
			}
		}}
	return f
}

func (f *fixture) get(t *testing.T) *channel {
	t.Helper()
	nc := &channel{}
	if err := f.client.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "c"}, nc); err != nil {
		t.Fatal(err)
	}
	return nc
}

func (f *fixture) drainEvents() []string {
	var out []string
	for {
		select {
		case e := <-f.events.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func ready(reason, msg string) func(context.Context, *channel) (ctrl.Result, error) {
	return func(_ context.Context, nc *channel) (ctrl.Result, error) {
		conditions.Set(&nc.Status.Conditions, nc.Generation, keyportv1.ConditionReady, metav1.ConditionTrue, reason, msg)
		nc.Status.LastSyncedTime = &metav1.Time{Time: time.Now()}
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	}
}

// TestRunWritesTheStatusOnceAndOnlyWhenItChanged: the first reconcile
// writes the status with the generation it saw and raises its event; a
// second that changes only what Normalize hides writes nothing.
func TestRunWritesTheStatusOnceAndOnlyWhenItChanged(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	res, err := f.status.Run(ctx, f.get(t), ready(keyportv1.ReasonChannelRegistered, "registered"))
	if err != nil || res.RequeueAfter != time.Minute {
		t.Fatalf("Run = %v, %v; want the reconcile's result and no error", res, err)
	}
	got := f.get(t)
	if f.patches != 1 || got.Status.ObservedGeneration != 3 || got.Status.LastSyncedTime == nil || len(got.Status.Conditions) != 1 {
		t.Fatalf("after the first reconcile: %d patches, status %+v", f.patches, got.Status)
	}
	if e := f.drainEvents(); !reflect.DeepEqual(e, []string{"Normal ChannelRegistered registered"}) {
		t.Errorf("events %q", e)
	}

	if _, err := f.status.Run(ctx, got, ready(keyportv1.ReasonChannelRegistered, "registered")); err != nil {
		t.Fatal(err)
	}
	if f.patches != 1 {
		t.Errorf("a resync that moved only LastSyncedTime wrote the status (%d patches)", f.patches)
	}
	if e := f.drainEvents(); len(e) != 0 {
		t.Errorf("events without a transition: %q", e)
	}

	// Anything else is written, LastSyncedTime along with it.
	if _, err := f.status.Run(ctx, f.get(t), ready(keyportv1.ReasonChannelRegistered, "registered again")); err != nil {
		t.Fatal(err)
	}
	if f.patches != 2 || f.get(t).Status.LastSyncedTime.Equal(got.Status.LastSyncedTime) {
		t.Errorf("a new message: %d patches, LastSyncedTime %v (was %v)", f.patches, f.get(t).Status.LastSyncedTime, got.Status.LastSyncedTime)
	}
}

// TestChangedComparesSemantically: the same instant in another zone, or
// the same conditions, are not a change; a field the normalization does
// not know is.
func TestChangedComparesSemantically(t *testing.T) {
	s := newFixture(t, false).status
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	a := &channel{Status: keyportv1.NotificationChannelStatus{ChannelID: "x", LastSyncedTime: &metav1.Time{Time: at},
		Conditions: []metav1.Condition{{Type: keyportv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "R", LastTransitionTime: metav1.Time{Time: at}}}}}
	b := a.DeepCopy()
	b.Status.LastSyncedTime = &metav1.Time{Time: at.In(time.FixedZone("CET", 3600))}
	if s.Changed(a, b) {
		t.Error("the same instant in another zone is a change")
	}
	s.Normalize = nil
	if s.Changed(a, b) {
		t.Error("without normalization, the same instant in another zone is a change")
	}
	b.Status.Conditions[0].LastTransitionTime = metav1.Time{Time: at.Add(time.Second)}
	if s.Changed(a, b) {
		t.Error("a condition's transition time alone is a change")
	}
	b.Status.Conditions[0].Status = metav1.ConditionFalse
	if !s.Changed(a, b) {
		t.Error("a condition's status is no change")
	}
	b = a.DeepCopy()
	b.Status.LastSyncedTime = nil
	if !s.Changed(a, b) {
		t.Error("a time that went is no change")
	}
	b = a.DeepCopy()
	b.Status.GeneratedSecretName = "gen"
	if !s.Changed(a, b) {
		t.Error("a new field is no change")
	}
	if a.Status.GeneratedSecretName != "" || b.Status.LastSyncedTime == nil || a.Status.Conditions[0].LastTransitionTime.IsZero() {
		t.Error("Changed changed its arguments")
	}
}

// TestRememberWritesOneChangeOnceWhenTheCacheLags: reconciled again from
// a cache that does not hold its first write yet, a controller that
// remembers writes and reports the change once.
func TestRememberWritesOneChangeOnceWhenTheCacheLags(t *testing.T) {
	for _, remember := range []bool{false, true} {
		f := newFixture(t, remember)
		ctx := context.Background()
		stale := f.get(t)
		if _, err := f.status.Run(ctx, stale.DeepCopy(), ready(keyportv1.ReasonChannelRegistered, "registered")); err != nil {
			t.Fatal(err)
		}
		// The second reconcile reads the object as it was before the write;
		// its patch's precondition-free merge succeeds.
		if _, err := f.status.Run(ctx, stale.DeepCopy(), ready(keyportv1.ReasonChannelRegistered, "registered")); err != nil {
			t.Fatal(err)
		}
		events := f.drainEvents()
		want := map[bool]int{false: 2, true: 1}[remember]
		if f.patches != want || len(events) != want {
			t.Errorf("remember=%v: %d patches and events %q, want %d of each", remember, f.patches, events, want)
		}
		if remember {
			// A new object of the same name is not the one remembered.
			f.status.Forget(client.ObjectKeyFromObject(stale))
			if _, err := f.status.Run(ctx, stale.DeepCopy(), ready(keyportv1.ReasonChannelRegistered, "registered")); err != nil {
				t.Fatal(err)
			}
			if f.patches != 2 {
				t.Errorf("after Forget: %d patches, want 2", f.patches)
			}
		}
	}
}

// TestRememberKeepsTheStatusAlone: what a controller remembers of each
// object it wrote is its UID and a copy of its status, not its spec,
// annotations or managedFields, which for thousands of objects would be
// most of the operator's memory.
func TestRememberKeepsTheStatusAlone(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	nc := f.get(t)
	nc.Spec.ChannelName = "visits"
	nc.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 4096)}
	nc.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}}}
	if _, err := f.status.Run(ctx, nc, ready(keyportv1.ReasonChannelRegistered, "registered")); err != nil {
		t.Fatal(err)
	}
	w, ok := f.status.written.Load(client.ObjectKeyFromObject(nc))
	if !ok {
		t.Fatal("nothing remembered of the object written")
	}
	kept, ok := w.(writtenStatus[keyportv1.NotificationChannelStatus])
	if !ok {
		t.Fatalf("remembered a %T, want the status alone", w)
	}
	if !reflect.DeepEqual(kept.status, nc.Status) || kept.uid != nc.UID {
		t.Errorf("remembered UID %q and status %+v, want %q and %+v", kept.uid, kept.status, nc.UID, nc.Status)
	}
	// The remembered status is a copy: changing the object changes nothing.
	nc.Status.Conditions[0].Reason = "Changed"
	if kept.status.Conditions[0].Reason == "Changed" {
		t.Error("the remembered status shares its conditions with the object")
	}
}

// TestErrorsOfTheReconcileAndTheWriteAreBothReturned, and a deleted object
// is none.
func TestErrorsOfTheReconcileAndTheWriteAreBothReturned(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	boom := errors.New("platform down")
	failing := func(_ context.Context, nc *channel) (ctrl.Result, error) {
		conditions.SetProblem(&nc.Status.Conditions, nc.Generation, metav1.ConditionFalse, keyportv1.ReasonPlatformUnreachable, "down")
		return ctrl.Result{}, boom
	}
	nc := f.get(t)
	if _, err := f.status.Run(ctx, nc, failing); !errors.Is(err, boom) {
		t.Errorf("Run = %v, want the reconcile's error", err)
	}
	if got := f.get(t); len(got.Status.Conditions) != 2 {
		t.Errorf("the status of a failed reconcile was not written: %+v", got.Status)
	}
	if e := f.drainEvents(); !reflect.DeepEqual(e, []string{"Warning PlatformUnreachable down"}) {
		t.Errorf("events %q, want one Warning for the reason", e)
	}

	gone := &channel{ObjectMeta: metav1.ObjectMeta{Name: "gone", Namespace: "ns", UID: "u2"}}
	if _, err := f.status.Run(ctx, gone, ready(keyportv1.ReasonChannelRegistered, "x")); err != nil {
		t.Errorf("a deleted object: %v", err)
	}
	denied := newFixture(t, false)
	denied.status.Client = interceptor.NewClient(denied.client.(client.WithWatch), interceptor.Funcs{
		SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
			return apierrors.NewForbidden(keyportv1.GroupVersion.WithResource("notificationchannels").GroupResource(), "c", errors.New("no"))
		}})
	if _, err := denied.status.Run(ctx, denied.get(t), failing); !errors.Is(err, boom) || !apierrors.IsForbidden(errors.Unwrap(lastJoined(err))) {
		t.Errorf("Run = %v, want both errors", err)
	}
}

func lastJoined(err error) error {
	errs := err.(interface{ Unwrap() []error }).Unwrap()
	return errs[len(errs)-1]
}

// TestReferrersFollowTheIndex: an object maps to the objects of its
// namespace whose index names it, and to nothing in another namespace.
func TestReferrersFollowTheIndex(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := keyportv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	const index = "apiclient"
	using := func(ns, name, apiClient string) client.Object {
		return &channel{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: keyportv1.NotificationChannelSpec{Platform: keyportv1.PlatformReference{ApiClientName: apiClient}}}
	}
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithIndex(&channel{}, index, func(o client.Object) []string { return []string{o.(*channel).Spec.Platform.ApiClientName} }).
		WithObjects(using("a", "one", "platform"), using("a", "two", "platform"), using("a", "three", "other"), using("b", "four", "platform")).Build()
	newList := func() client.ObjectList { return &keyportv1.NotificationChannelList{} }
	ac := &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "platform"}}
	var names []string
	for _, r := range ReferrersOf(c, newList, index)(context.Background(), ac) {
		if r.Namespace != "a" {
			t.Errorf("request in namespace %q", r.Namespace)
		}
		names = append(names, r.Name)
	}
	sort.Strings(names)
	if !reflect.DeepEqual(names, []string{"one", "two"}) {
		t.Errorf("referrers %q, want one and two", names)
	}
	if got := Referrers(context.Background(), c, newList, "no-such-index", "a", "platform"); got != nil {
		t.Errorf("a failed list gave %v", got)
	}
}

// TestWholeSecondsMakesTimesOfOneSecondEqual, as the API server keeps them.
func TestWholeSecondsMakesTimesOfOneSecondEqual(t *testing.T) {
	s := newFixture(t, false).status
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	s.Normalize = func(before, after *keyportv1.NotificationChannelStatus) {
		WholeSeconds(before.LastSyncedTime, after.LastSyncedTime)
	}
	a := &channel{Status: keyportv1.NotificationChannelStatus{LastSyncedTime: &metav1.Time{Time: at}}}
	b := a.DeepCopy()
	b.Status.LastSyncedTime.Time = at.Add(999 * time.Millisecond)
	if s.Changed(a, b) {
		t.Error("a time within the same second is a change")
	}
	b.Status.LastSyncedTime.Time = at.Add(time.Second)
	if !s.Changed(a, b) {
		t.Error("the next second is no change")
	}
	WholeSeconds(nil) // a time not set stays unset
}

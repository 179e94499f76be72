package provider

import (
	"fmt"
	"reflect"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// statusView is the part of a Keyport status the wait reads. Every kind has
// observedGeneration and metav1 conditions, each with its own
// observedGeneration.
type statusView struct {
	ObservedGeneration int64
	Conditions         []metav1.Condition
	// raw is the whole status, to notice that the operator has reacted
	// when the generation cannot tell (a rotated credential).
	raw map[string]any
}

func statusOf(obj client.Object) (statusView, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return statusView{}, err
	}
	raw, _ := u["status"].(map[string]any)
	var common struct {
		ObservedGeneration int64              `json:"observedGeneration,omitempty"`
		Conditions         []metav1.Condition `json:"conditions,omitempty"`
	}
	if raw != nil {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &common); err != nil {
			return statusView{}, err
		}
	}
	return statusView{ObservedGeneration: common.ObservedGeneration, Conditions: common.Conditions, raw: raw}, nil
}

// outcome of one look at the status.
type outcome int

const (
	// pending: keep waiting.
	pending outcome = iota
	// ready: Ready=True for the generation written.
	ready
	// failed: a terminal reason; waiting longer does not help.
	failed
)

// verdict is what judge concluded, with words for the user.
type verdict struct {
	outcome outcome
	// detail says why: the operator's reason and message when there is one.
	detail string
	// warning is set when Ready=True but the resource is Degraded.
	warning string
}

// judge decides, from one status, whether the wait is over. Only conditions
// computed for the generation just written (or a later one) count: a Ready
// left from an older generation says nothing about this spec. When baseline
// is set (a referenced Secret changed but the spec did not, so the
// generation cannot tell), the status must also have moved since baseline.
// terminal reasons fail at once, in Ready=False or in Degraded=True.
func judge(generation int64, st statusView, baseline *statusView, terminal map[string]bool) verdict {
	if st.ObservedGeneration < generation {
		return verdict{outcome: pending, detail: fmt.Sprintf("the operator has not observed generation %d yet (status.observedGeneration is %d)", generation, st.ObservedGeneration)}
	}
	readyCond := current(st.Conditions, keyportv1.ConditionReady, generation)
	if readyCond == nil {
		return verdict{outcome: pending, detail: fmt.Sprintf("no Ready condition for generation %d yet", generation)}
	}
	if baseline != nil && reflect.DeepEqual(st.raw, baseline.raw) {
		return verdict{outcome: pending, detail: "the operator has not reacted to the changed credentials yet"}
	}
	degraded := current(st.Conditions, keyportv1.ConditionDegraded, generation)
	if degraded != nil && degraded.Status != metav1.ConditionTrue {
		degraded = nil
	}
	switch {
	case readyCond.Status != metav1.ConditionTrue && terminal[readyCond.Reason]:
		return verdict{outcome: failed, detail: describe(readyCond)}
	case degraded != nil && terminal[degraded.Reason]:
		return verdict{outcome: failed, detail: describe(degraded)}
	case readyCond.Status == metav1.ConditionTrue:
		v := verdict{outcome: ready, detail: describe(readyCond)}
		if degraded != nil {
			v.warning = describe(degraded)
		}
		return v
	}
	return verdict{outcome: pending, detail: fmt.Sprintf("Ready is %s: %s", readyCond.Status, describe(readyCond))}
}

// current returns the condition of type t if it was computed for generation
// or later.
func current(conds []metav1.Condition, t string, generation int64) *metav1.Condition {
	c := apimeta.FindStatusCondition(conds, t)
	if c == nil || c.ObservedGeneration < generation {
		return nil
	}
	return c
}

func describe(c *metav1.Condition) string {
	if c.Message == "" {
		return c.Reason
	}
	return c.Reason + ": " + c.Message
}

package main

// RBAC for what the manager itself does, independent of any controller.
// Each controller declares its own permissions next to its Reconcile, and
// `make manifests` turns all these markers into config/rbac/role.yaml: a
// ClusterRole, and a Role for the operator's own namespace.
//
// In its own namespace the operator elects a leader with a Lease (and
// records the election as an event) and keeps its MAC key Secret. These
// rules are a Role there, never cluster-wide: write access to Leases
// everywhere would let it rewrite other components' leader elections and
// the nodes' heartbeats in kube-system. keyport-system is the default
// install's namespace; the kustomize overlay and the Helm chart put the
// Role into the namespace they install the operator in. An operator whose
// --leader-election-namespace or --mac-key-secret names another namespace
// needs the Role bound there too.

// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update,namespace=keyport-system
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create,namespace=keyport-system
// +kubebuilder:rbac:groups="",resources=events,verbs=create,namespace=keyport-system

// Everywhere else, each controller's markers grant only what its code
// does. It reads through the manager's cache, which lists and watches, so
// no rule grants get but one: the content of a Secret that is not
// Keyport's, which the cache holds only the metadata of, is read with a get
// when a resource names it (operator/secretcache). It writes status and
// finalizers with patches (update on <kind>/finalizers is for the owner
// references of what it creates, which block their owner's deletion); it
// deletes nothing but the
// cert-manager Certificates it made. Events on the resources it reconciles
// are created, and patched when one repeats.
// TestTheOperatorUsesEveryVerbOfItsRolesAndNoOther fails on a verb used but
// not granted, or granted but not used.
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

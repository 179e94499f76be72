package main

// RBAC for what the manager itself does, independent of any controller:
// leader election takes a Lease, and events are recorded for users. Each
// controller declares its own permissions next to its Reconcile. `make
// manifests` turns these markers into config/rbac/role.yaml.

// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

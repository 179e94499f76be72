package main

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/keyport-dev/keyport/shared/testsupport/testenv/secretvolume"
)

// The demo has no kubelet, so it plays one for the Secrets its workloads
// mount: it projects a Secret into a folder with the kubelet's layout
// (shared/testsupport/testenv/secretvolume) and re-projects it when the Secret changes.
// Workloads that read the files on every request — as the README says they
// must — see each rotation without a restart.

// mountSecret keeps dir in step with the Secret until ctx ends, checking
// every second (the kubelet's sync period is a minute or so; the refresh
// budget covers that in a real cluster). It returns after the first
// projection.
func (d *demo) mountSecret(ctx context.Context, name, dir string) error {
	_ = os.RemoveAll(dir)
	seen := ""
	sync := func() error {
		secret := &corev1.Secret{}
		if err := d.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret); err != nil {
			return err
		}
		if secret.ResourceVersion == seen {
			return nil
		}
		if err := secretvolume.Project(dir, secret.Data); err != nil {
			return fmt.Errorf("mount Secret %s: %w", name, err)
		}
		seen = secret.ResourceVersion
		return nil
	}
	if err := sync(); err != nil {
		return err
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				_ = sync()
			}
		}
	}()
	return nil
}

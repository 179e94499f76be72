// Package certmanager runs cert-manager's real controllers in the test
// process, against a testenv control plane. cert-manager's controller binary
// is not published as a Go module, but its controllers are public packages
// that register themselves with pkg/controller; importing them and building
// them from a ContextFactory runs exactly the code the binary runs.
//
// Running: the Certificate controllers (trigger, key manager, request
// manager, issuing, readiness, revision manager), the CertificateRequest
// approver and the CA and self-signed signers, and the Issuer and
// ClusterIssuer controllers. ACME, Vault and Venafi are not started.
package certmanager

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"

	// Each import registers its controllers with controllerpkg.Known().
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// Issuer implementations the issuer controllers set up.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"

	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
)

// Start runs the controllers until ctx ends. clusterResourceNamespace holds
// the CA Secrets of ClusterIssuers.
func Start(ctx context.Context, env *testenv.Env, clusterResourceNamespace string) error {
	dir, err := os.MkdirTemp("", "keyport-cert-manager-")
	if err != nil {
		return err
	}
	kubeconfig, err := env.Kubeconfig(dir)
	if err != nil {
		return fmt.Errorf("write a kubeconfig for cert-manager: %w", err)
	}
	return StartWithKubeconfig(ctx, kubeconfig, clusterResourceNamespace)
}

// StartWithKubeconfig runs the controllers against the cluster of a
// kubeconfig file (a node's, say) until ctx ends.
func StartWithKubeconfig(ctx context.Context, kubeconfig, clusterResourceNamespace string) error {
	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		Kubeconfig:         kubeconfig,
		KubernetesAPIQPS:   200,
		KubernetesAPIBurst: 400,
		IssuerOptions:      controllerpkg.IssuerOptions{ClusterResourceNamespace: clusterResourceNamespace},
		CertificateOptions: controllerpkg.CertificateOptions{
			EnableOwnerRef: true,
			// Short backoffs: a test should not wait minutes for a retry.
			CertificateRequestMinimumBackoffDuration: time.Second,
			CertificateRequestMaximumBackoffDuration: 5 * time.Second,
		},
	})
	if err != nil {
		return fmt.Errorf("build cert-manager's controller context: %w", err)
	}
	known := controllerpkg.Known()
	names := make([]string, 0, len(known))
	for name := range known {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c, err := known[name](factory)
		if err != nil {
			return fmt.Errorf("construct cert-manager controller %s: %w", name, err)
		}
		go func() { _ = c.Run(1, ctx) }()
	}
	// The controllers registered their informers while being constructed;
	// the shared factories start them all.
	shared, err := factory.Build()
	if err != nil {
		return err
	}
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	if shared.GWShared != nil {
		shared.GWShared.Start(ctx.Done())
	}
	return nil
}

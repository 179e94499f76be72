// Command terraform-provider-keyport is Keyport's Terraform provider: it
// declares Keyport's resources in HCL and applies them as Kubernetes custom
// resources, waiting until the operator has made them real.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/keyport-dev/keyport/terraform-provider/internal/provider"
)

// version is set at build time.
var version = "dev"

func main() {
	debug := flag.Bool("debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()
	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address:         "registry.terraform.io/keyport-dev/keyport",
		Debug:           *debug,
		ProtocolVersion: 6,
	})
	if err != nil {
		log.Fatal(err)
	}
}

// Package providermirror installs Keyport's Terraform provider the way a user
// installs a released one: from the release's zip for this platform, laid out
// as a packed filesystem mirror that a CLI configuration points terraform (or
// OpenTofu) at, with a dependency lock file that holds the checksum the
// release's SHA256SUMS publishes, so that `terraform init` refuses a zip
// that does not match it.
//
// The release's files are those of `make release-snapshot` (bin/dist) or of
// its host-only fast path `make provider-archive` (bin/provider-dist): both
// name them as the Terraform registry does,
// terraform-provider-keyport_VERSION_OS_ARCH.zip beside
// terraform-provider-keyport_VERSION_SHA256SUMS.
package providermirror

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
)

// The provider's source address is HOST/keyport-dev/keyport; HOST is the
// default registry of the binary that reads the configuration, since a
// configuration says only source = "keyport-dev/keyport".
const (
	Namespace = "keyport-dev"
	Type      = "keyport"

	TerraformRegistry = "registry.terraform.io"
	OpenTofuRegistry  = "registry.opentofu.org"

	// DistEnv names the folder with the release's files; by default
	// bin/provider-dist of this checkout, where `make provider-archive`
	// writes.
	DistEnv = "KEYPORT_PROVIDER_DIST"
)

// Release is the provider for this machine's platform in a release's output.
type Release struct {
	Version string
	// Zip is the path of terraform-provider-keyport_VERSION_OS_ARCH.zip.
	Zip string
	// SHA256 is the zip's checksum as the release's SHA256SUMS lists it.
	SHA256 string
}

// DistDir is the folder that holds the release's files.
func DistDir() string {
	if dir := os.Getenv(DistEnv); dir != "" {
		return dir
	}
	return filepath.Join(testenv.RepoRoot(), "bin", "provider-dist")
}

// Find reads the release in dir: its one SHA256SUMS file gives the version
// and the checksum of this platform's zip.
func Find(dir string) (Release, error) {
	sums, err := filepath.Glob(filepath.Join(dir, "terraform-provider-"+Type+"_*_SHA256SUMS"))
	if err != nil {
		return Release{}, err
	}
	if len(sums) != 1 {
		return Release{}, fmt.Errorf("%s holds %d provider SHA256SUMS files, want exactly one: run `make provider-archive` (this platform only) or `make release-snapshot`", dir, len(sums))
	}
	base := filepath.Base(sums[0])
	version := strings.TrimSuffix(strings.TrimPrefix(base, "terraform-provider-"+Type+"_"), "_SHA256SUMS")
	zipName := fmt.Sprintf("terraform-provider-%s_%s_%s_%s.zip", Type, version, runtime.GOOS, runtime.GOARCH)
	content, err := os.ReadFile(sums[0])
	if err != nil {
		return Release{}, err
	}
	scanner := bufio.NewScanner(bytes.NewReader(content))
	for scanner.Scan() {
		// sha256sum's format: HEX, two spaces (or space and star), name.
		fields := strings.Fields(scanner.Text())
		if len(fields) == 2 && strings.TrimPrefix(fields[1], "*") == zipName {
			zip := filepath.Join(dir, zipName)
			if _, err := os.Stat(zip); err != nil {
				return Release{}, fmt.Errorf("%s lists %s, but: %w", base, zipName, err)
			}
			return Release{Version: version, Zip: zip, SHA256: fields[0]}, nil
		}
	}
	return Release{}, fmt.Errorf("%s lists no %s: the release has no build for %s/%s", base, zipName, runtime.GOOS, runtime.GOARCH)
}

// Registry is the registry host that the binary at path assumes for a source
// address without one: OpenTofu's for OpenTofu, Terraform's otherwise.
func Registry(ctx context.Context, path string) (string, error) {
	out, err := exec.CommandContext(ctx, path, "version").Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", path, err)
	}
	// The first line is the name and version, unless warnings about the
	// CLI configuration come before it.
	for line := range bytes.Lines(out) {
		if bytes.HasPrefix(line, []byte("OpenTofu v")) {
			return OpenTofuRegistry, nil
		}
	}
	return TerraformRegistry, nil
}

// Address is the provider's full source address on host.
func Address(host string) string {
	return host + "/" + Namespace + "/" + Type
}

// Mirror lays out a packed filesystem mirror holding the release's zip under
// dir (HOST/NAMESPACE/TYPE/terraform-provider-TYPE_VERSION_OS_ARCH.zip) and
// writes beside it the CLI configuration that installs the provider from
// there and from nowhere else; it returns the configuration's path, for
// TF_CLI_CONFIG_FILE.
func (r Release) Mirror(dir, host string) (string, error) {
	mirror := filepath.Join(dir, "mirror")
	pkgDir := filepath.Join(mirror, host, Namespace, Type)
	if err := os.MkdirAll(pkgDir, 0o755); err != nil {
		return "", err
	}
	zip, err := os.ReadFile(r.Zip)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(pkgDir, filepath.Base(r.Zip)), zip, 0o644); err != nil {
		return "", err
	}
	// direct {} keeps every other provider on its registry, as a user's
	// configuration would; its exclude makes sure that this one cannot
	// come from anywhere but the mirror.
	config := fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = [%q]
  }
  direct {
    exclude = [%q]
  }
}
`, mirror, Address(host), Address(host))
	path := filepath.Join(dir, "terraformrc")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// LockFile is a dependency lock file (.terraform.lock.hcl) that records the
// release's version and its published checksum, as the lock file of a
// configuration that was first initialised from the registry would: init
// then installs the zip only when its SHA-256 is that one ("zh:" is the
// checksum of the whole zip, the one SHA256SUMS lists).
func (r Release) LockFile(host string) []byte {
	return fmt.Appendf(nil, `provider %q {
  version = %q
  hashes = [
    "zh:%s",
  ]
}
`, Address(host), r.Version, r.SHA256)
}

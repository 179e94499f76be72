package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/testsupport/testenv/providermirror"
)

// The released provider, as a user installs it: the release's zip for this
// platform in a filesystem mirror, a configuration that names only
// source = "keyport-dev/keyport" and the release's version, a lock file with
// the checksum the release publishes. `terraform init` installs it from the
// mirror, and the installed binary answers a provider function. It runs with
// the binary TF_ACC_TERRAFORM_PATH names (`make test` runs it with terraform
// and again with OpenTofu) over the archive of `make provider-archive` or
// `make release-snapshot` (KEYPORT_PROVIDER_DIST).
func TestReleasedProviderInstallsFromFilesystemMirror(t *testing.T) {
	tf, rel := terraformAndRelease(t)
	ctx := context.Background()
	host, err := providermirror.Registry(ctx, tf)
	if err != nil {
		t.Fatal(err)
	}
	cliConfig, err := rel.Mirror(t.TempDir(), host)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, fingerprint := testCertificate(t)
	work := workspace(t, rel, host, fmt.Sprintf(`
output "fingerprint" {
  value = provider::keyport::certificate_fingerprint(%q)
}
`, certPEM))

	out := run(t, tf, work, cliConfig, "init", "-input=false", "-no-color")
	if want := "Installing " + providermirror.Namespace + "/" + providermirror.Type + " v" + rel.Version; !strings.Contains(out, want) {
		t.Fatalf("terraform init did not say %q:\n%s", want, out)
	}
	// The installed package is the release's zip, unpacked.
	binary := filepath.Join(work, ".terraform", "providers", providermirror.Address(host), rel.Version, platform(), "terraform-provider-keyport_v"+rel.Version)
	if _, err := os.Stat(binary); err != nil {
		t.Fatalf("init did not install the release's binary: %v", err)
	}
	lock, err := os.ReadFile(filepath.Join(work, ".terraform.lock.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(lock, []byte("zh:"+rel.SHA256)) || !bytes.Contains(lock, []byte(`"h1:`)) {
		t.Fatalf("the lock file after init lacks the release's zh: checksum or the package's h1: hash:\n%s", lock)
	}

	run(t, tf, work, cliConfig, "apply", "-auto-approve", "-input=false", "-no-color")
	got := strings.TrimSpace(run(t, tf, work, cliConfig, "output", "-raw", "fingerprint"))
	if got != fingerprint {
		t.Fatalf("the installed provider's certificate_fingerprint = %q, want %q", got, fingerprint)
	}
}

// A zip in the mirror that is not the one the release's SHA256SUMS lists
// (here: the release's binary re-packed with one more file) is refused by
// init, naming the checksum mismatch, and nothing is installed.
func TestReleasedProviderMirrorRefusesAZipWithAnotherChecksum(t *testing.T) {
	tf, rel := terraformAndRelease(t)
	host, err := providermirror.Registry(context.Background(), tf)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(t.TempDir(), filepath.Base(rel.Zip))
	repack(t, rel.Zip, tampered)
	published := rel
	rel.Zip = tampered // the mirror gets the other zip; the lock file keeps the published checksum
	cliConfig, err := rel.Mirror(t.TempDir(), host)
	if err != nil {
		t.Fatal(err)
	}
	work := workspace(t, published, host, "")

	cmd := exec.Command(tf, "init", "-input=false", "-no-color")
	cmd.Dir, cmd.Env = work, append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig, "TF_IN_AUTOMATION=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("init installed a zip whose checksum is not the published one:\n%s", out)
	}
	if !strings.Contains(string(out), "checksums previously recorded in the dependency lock file") {
		t.Fatalf("init failed, but not for the checksum:\n%s", out)
	}
	// The lock file still holds the published checksum alone: the other
	// zip's hash was not recorded, so no later init or plan accepts it.
	lock, err := os.ReadFile(filepath.Join(work, ".terraform.lock.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if string(lock) != string(published.LockFile(host)) {
		t.Fatalf("the refused init changed the lock file:\n%s", lock)
	}
	plan := exec.Command(tf, "plan", "-input=false", "-no-color")
	plan.Dir, plan.Env = work, cmd.Env
	if out, err := plan.CombinedOutput(); err == nil {
		t.Fatalf("plan ran after init refused the provider:\n%s", out)
	}
}

// terraformAndRelease is the binary under test and this platform's release.
func terraformAndRelease(t *testing.T) (string, providermirror.Release) {
	t.Helper()
	tf := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if tf == "" {
		var err error
		if tf, err = exec.LookPath("terraform"); err != nil {
			t.Fatalf("no terraform: set TF_ACC_TERRAFORM_PATH or put terraform on PATH (`make terraform`): %v", err)
		}
	}
	rel, err := providermirror.Find(providermirror.DistDir())
	if err != nil {
		t.Fatal(err)
	}
	return tf, rel
}

// workspace is a configuration folder that requires the release's version of
// keyport-dev/keyport, with the lock file a user keeps beside it.
func workspace(t *testing.T, rel providermirror.Release, host, body string) string {
	t.Helper()
	work := t.TempDir()
	main := fmt.Sprintf(`terraform {
  required_providers {
    keyport = {
      source  = "keyport-dev/keyport"
      version = %q
    }
  }
}
%s`, rel.Version, body)
	if err := os.WriteFile(filepath.Join(work, "main.tf"), []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, ".terraform.lock.hcl"), rel.LockFile(host), 0o600); err != nil {
		t.Fatal(err)
	}
	return work
}

func run(t *testing.T, tf, dir, cliConfig string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tf, args...)
	cmd.Dir = dir
	// No plugin cache: the provider must come from the mirror.
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig, "TF_IN_AUTOMATION=1", "TF_PLUGIN_CACHE_DIR=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(tf), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func platform() string {
	return runtime.GOOS + "_" + runtime.GOARCH
}

// testCertificate is a self-signed certificate and its SHA-256 fingerprint
// as the provider reports it (upper-case hex of the DER).
func testCertificate(t *testing.T) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "released-provider"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), strings.ToUpper(hex.EncodeToString(sum[:]))
}

// repack writes a valid zip with the same entries as src plus one file.
func repack(t *testing.T, src, dst string) {
	t.Helper()
	r, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	w := zip.NewWriter(f)
	for _, entry := range r.File {
		in, err := entry.Open()
		if err != nil {
			t.Fatal(err)
		}
		hdr := entry.FileHeader
		out, err := w.CreateHeader(&hdr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
	}
	extra, err := w.Create("NOTICE")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(extra, "not part of the release")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

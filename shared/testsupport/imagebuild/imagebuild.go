// Package imagebuild builds Keyport's container images without a container
// engine: each image is one static Go binary on an empty base, plus CA
// certificates, /etc/passwd and /etc/group for the nonroot user and an SPDX
// SBOM, written as an OCI image-layout archive that `ctr images import`
// (containerd 2.x) loads under the image's name.
//
// The images are reproducible: the binary is built with -trimpath and an
// empty build ID, every timestamp is Options.Created, files are written in a
// fixed order and nothing depends on the build machine (the CA certificates
// come from a Go module, not from the host), so building the same source
// twice gives the same manifest digest.
package imagebuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Spec is one image: a Go main package and where its binary goes.
type Spec struct {
	// Name is the repository under Options.Registry, and also the name of
	// the binary, the entrypoint (/Name), the archive (Name.tar) and the
	// SBOM (Name.spdx.json).
	Name string
	// Package is the Go main package, as `go build` takes it from the
	// module's root, e.g. ./operator.
	Package string
	// Tag is the image's tag; empty means Options.Version.
	Tag string
	// Description is the org.opencontainers.image.description label.
	Description string
}

// KeyportImages are the images `make images` builds.
func KeyportImages() []Spec {
	return []Spec{
		{Name: "keyport-operator", Package: "./operator",
			Description: "The Keyport operator: keeps API tokens and certificates of ApiClients fresh in Kubernetes Secrets."},
		{Name: "keyport-sandbox", Package: "./shared/testsupport/sandbox/cmd/keyport-sandbox",
			Description: "The Keyport sandbox: a fake of the platforms Keyport talks to, for tests and the demo."},
		{Name: "keyport-workload", Package: "./examples/workload",
			Description: "An example workload that calls an API with the token Keyport keeps in a mounted Secret."},
		{Name: "keyport-ingest", Package: "./examples/ingest",
			Description: "An example workload that posts to an ingestion channel from the Secret Keyport keeps."},
		// A fixed tag, not the version: containerd's configuration names the
		// sandbox image, and that name should not change with every build.
		{Name: "pause", Package: "./shared/testsupport/pause", Tag: "3.10",
			Description: "The pod sandbox (infra) container of Keyport's test node."},
	}
}

// Options are the settings every image of one build shares.
type Options struct {
	// Registry is the first part of every image's name, e.g. keyport.dev.
	Registry string
	// Version, Revision, Source and License become the OCI labels
	// org.opencontainers.image.version, .revision, .source and .licenses
	// (empty ones are left out). License is an SPDX identifier.
	Version  string
	Revision string
	Source   string
	License  string
	// Created is every timestamp in the image: the config's created time,
	// its history and the modification time of every file.
	Created time.Time
	// GOARCH is the architecture the binaries are built for.
	GOARCH string
}

// Ref is the image's name in containerd, e.g. keyport.dev/keyport-operator:dev.
func (o Options) Ref(s Spec) string {
	return o.Registry + "/" + s.Name + ":" + o.tag(s)
}

func (o Options) tag(s Spec) string {
	if s.Tag != "" {
		return s.Tag
	}
	return o.Version
}

// Result is what Build wrote for one image.
type Result struct {
	Ref     string  // the name containerd gives the imported image
	Digest  v1.Hash // the image manifest's digest
	Archive string  // the OCI image-layout archive
	SBOM    string  // the SPDX document, also inside the image
	Size    int64   // the archive's size in bytes
}

// Build compiles s.Package (from the current directory, the module's root)
// and writes outDir/NAME.tar and outDir/NAME.spdx.json.
func Build(ctx context.Context, s Spec, o Options, outDir string) (Result, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return Result{}, err
	}
	work, err := os.MkdirTemp("", "keyport-image-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(work)

	binary := filepath.Join(work, s.Name)
	if err := Compile(ctx, s.Package, o.GOARCH, binary); err != nil {
		return Result{}, err
	}
	exe, err := os.ReadFile(binary)
	if err != nil {
		return Result{}, err
	}
	img, sbom, err := Image(s, o, exe)
	if err != nil {
		return Result{}, err
	}

	r := Result{
		Ref:     o.Ref(s),
		Archive: filepath.Join(outDir, s.Name+".tar"),
		SBOM:    filepath.Join(outDir, s.Name+".spdx.json"),
	}
	if r.Digest, err = img.Digest(); err != nil {
		return Result{}, err
	}
	if err := WriteArchive(r.Archive, img, r.Ref, o.tag(s), o.Created); err != nil {
		return Result{}, err
	}
	if err := os.WriteFile(r.SBOM, sbom, 0o644); err != nil {
		return Result{}, err
	}
	info, err := os.Stat(r.Archive)
	if err != nil {
		return Result{}, err
	}
	r.Size = info.Size()
	return r, nil
}

// Compile builds the main package pkg into out as a static Linux binary
// whose bytes depend only on the source and the Go toolchain: no cgo (the
// image has no libc), -trimpath (no paths of this machine), an empty build
// ID and -buildvcs=false (the Git state, such as an uncommitted change to
// an unrelated file, would otherwise change the binary; the revision is in
// the image's labels and SBOM instead). -s -w drop the symbol table and
// DWARF, which only a debugger needs.
func Compile(ctx context.Context, pkg, goarch, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid=", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, stderr.Bytes())
	}
	return nil
}

// Image assembles s's image around exe, the compiled binary, and returns it
// with its SBOM (an SPDX 2.3 JSON document, also in the image at
// /usr/share/sbom/NAME.spdx.json).
func Image(s Spec, o Options, exe []byte) (v1.Image, []byte, error) {
	bi, err := buildinfo.Read(bytes.NewReader(exe))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: reading the Go build info: %w", s.Name, err)
	}
	sum := sha256.Sum256(exe)
	sbom, err := SBOM(bi, s, o, hex.EncodeToString(sum[:]))
	if err != nil {
		return nil, nil, err
	}
	img, err := assemble(s, o, exe, sbom)
	if err != nil {
		return nil, nil, err
	}
	return img, sbom, nil
}

// labels are the OCI annotations of the image's config
// (https://github.com/opencontainers/image-spec/blob/main/annotations.md).
func labels(s Spec, o Options) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":   s.Name,
		"org.opencontainers.image.created": o.Created.UTC().Format(time.RFC3339),
	}
	for key, value := range map[string]string{
		"description": s.Description,
		"source":      o.Source,
		"revision":    o.Revision,
		"version":     o.Version,
		"licenses":    o.License,
	} {
		if value != "" {
			l["org.opencontainers.image."+key] = value
		}
	}
	return l
}

// LicenseID returns the SPDX identifier of the license text in a LICENSE
// file, or "" when it is not one this function knows; a wrong
// org.opencontainers.image.licenses label would be worse than none.
func LicenseID(text []byte) string {
	t := string(text)
	if strings.Contains(t, "Apache License") && strings.Contains(t, "Version 2.0") {
		return "Apache-2.0"
	}
	return ""
}

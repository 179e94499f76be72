package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// The pause command is the smallest binary of the repository; the tests
// build their images around it.
const pausePackage = "github.com/keyport-dev/keyport/shared/testsupport/pause"

var testSpec = Spec{Name: "pause", Package: pausePackage, Tag: "3.10", Description: "test image"}

func testOptions() Options {
	return Options{
		Registry: "keyport.dev",
		Version:  "dev",
		Revision: "0123456789abcdef0123456789abcdef01234567",
		Source:   "https://github.com/keyport-dev/keyport",
		License:  "Apache-2.0",
		Created:  time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC),
		GOARCH:   runtime.GOARCH,
	}
}

var pause struct {
	once sync.Once
	exe  []byte
	err  error
}

// pauseBinary compiles the pause command once for all tests.
func pauseBinary(t *testing.T) []byte {
	t.Helper()
	pause.once.Do(func() {
		dir, err := os.MkdirTemp("", "imagebuild-test-")
		if err != nil {
			pause.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "pause")
		if pause.err = Compile(context.Background(), pausePackage, runtime.GOARCH, out); pause.err == nil {
			pause.exe, pause.err = os.ReadFile(out)
		}
	})
	if pause.err != nil {
		t.Fatal(pause.err)
	}
	return pause.exe
}

// TestReproducible compiles the pause command and builds its image and
// archive twice, and expects the same binary, manifest digest and archive.
func TestReproducible(t *testing.T) {
	var digests []v1.Hash
	var archives [][sha256.Size]byte
	for i := range 2 {
		out := filepath.Join(t.TempDir(), "pause")
		if err := Compile(t.Context(), pausePackage, runtime.GOARCH, out); err != nil {
			t.Fatal(err)
		}
		exe, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 && !bytes.Equal(exe, pauseBinary(t)) {
			t.Error("two builds of the pause command differ")
		}
		img, _, err := Image(testSpec, testOptions(), exe)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		archive := filepath.Join(t.TempDir(), "pause.tar")
		if err := WriteArchive(archive, img, "keyport.dev/pause:3.10", "3.10", testOptions().Created); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
		archives = append(archives, sha256.Sum256(b))
	}
	if digests[0] != digests[1] {
		t.Errorf("manifest digests differ: %s, %s", digests[0], digests[1])
	}
	if archives[0] != archives[1] {
		t.Errorf("archives differ")
	}

	// The time is part of the image: another one gives another digest.
	o := testOptions()
	o.Created = o.Created.Add(time.Second)
	img, _, err := Image(testSpec, o, pauseBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d == digests[0] {
		t.Error("the digest does not depend on Options.Created")
	}
}

func TestConfig(t *testing.T) {
	img, _, err := Image(testSpec, testOptions(), pauseBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", cfg.Config.User)
	}
	if got := strings.Join(cfg.Config.Entrypoint, " "); got != "/pause" {
		t.Errorf("entrypoint %q, want /pause", got)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
	}
	if !cfg.Created.Equal(testOptions().Created) {
		t.Errorf("created %s, want %s", cfg.Created, testOptions().Created)
	}
	for _, h := range cfg.History {
		if !h.Created.Equal(testOptions().Created) {
			t.Errorf("history %q created %s, want %s", h.CreatedBy, h.Created, testOptions().Created)
		}
	}
	want := map[string]string{
		"org.opencontainers.image.title":       "pause",
		"org.opencontainers.image.description": "test image",
		"org.opencontainers.image.source":      "https://github.com/keyport-dev/keyport",
		"org.opencontainers.image.revision":    "0123456789abcdef0123456789abcdef01234567",
		"org.opencontainers.image.version":     "dev",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.created":     "2026-05-04T03:02:01Z",
	}
	for k, v := range want {
		if got := cfg.Config.Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Config.MediaType != "application/vnd.oci.image.config.v1+json" {
		t.Errorf("media types %s, %s; want OCI ones", m.MediaType, m.Config.MediaType)
	}
}

// TestFiles reads every layer: no shell or any other program than the
// binary, and the files a Go program may need.
func TestFiles(t *testing.T) {
	img, sbom, err := Image(testSpec, testOptions(), pauseBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	files := imageFiles(t, img)

	for name, h := range files {
		if name == "bin" || strings.HasPrefix(name, "bin/") || strings.HasPrefix(name, "usr/bin/") ||
			strings.HasPrefix(name, "sbin/") || strings.HasSuffix(name, "/sh") || name == "sh" {
			t.Errorf("the image has %s", name)
		}
		if h.Typeflag == tar.TypeReg && h.Mode&0o111 != 0 && name != "pause" {
			t.Errorf("%s is executable; only /pause should be", name)
		}
		if !h.ModTime.Equal(testOptions().Created) {
			t.Errorf("%s: mtime %s, want %s", name, h.ModTime, testOptions().Created)
		}
	}

	if h := files["pause"]; h == nil || h.Mode != 0o555 || h.Uid != 0 {
		t.Errorf("/pause: %+v, want mode 0555 owned by root", h)
	} else if !bytes.Equal(h.data, pauseBinary(t)) {
		t.Error("/pause is not the binary")
	}
	if h := files["usr/share/sbom/pause.spdx.json"]; h == nil || !bytes.Equal(h.data, sbom) {
		t.Error("the image has no /usr/share/sbom/pause.spdx.json, or not the SBOM Image returned")
	}
	if h := files["etc/passwd"]; h == nil || !strings.Contains(string(h.data), "nonroot:x:65532:65532:") {
		t.Error("/etc/passwd has no nonroot user with UID 65532")
	}
	if h := files["etc/group"]; h == nil || !strings.Contains(string(h.data), "nonroot:x:65532:") {
		t.Error("/etc/group has no nonroot group with GID 65532")
	}
	if h := files["home/nonroot"]; h == nil || h.Uid != 65532 || h.Typeflag != tar.TypeDir {
		t.Errorf("/home/nonroot: %+v, want a directory of 65532", h)
	}
	if h := files["tmp"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("/tmp: %+v, want mode 1777", h)
	}

	h := files["etc/ssl/certs/ca-certificates.crt"]
	if h == nil {
		t.Fatal("the image has no /etc/ssl/certs/ca-certificates.crt")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(h.data) {
		t.Fatal("ca-certificates.crt has no certificate Go can parse")
	}
	if n := bytes.Count(h.data, []byte("-----BEGIN CERTIFICATE-----")); n < 100 {
		t.Errorf("ca-certificates.crt has %d certificates; the Mozilla bundle has over 100", n)
	}
}

func TestCABundle(t *testing.T) {
	a, err := caBundle()
	if err != nil {
		t.Fatal(err)
	}
	b, err := caBundle()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two renderings of the CA bundle differ")
	}
	// In SHA-256 order, and every block a certificate.
	var last []byte
	for rest := a; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			t.Fatalf("a %s block", block.Type)
		}
		sum := sha256.Sum256(block.Bytes)
		if last != nil && bytes.Compare(last, sum[:]) >= 0 {
			t.Fatal("the certificates are not in SHA-256 order")
		}
		last = sum[:]
	}
}

// TestArchive reads the archive back as an OCI image layout, as containerd
// would import it.
func TestArchive(t *testing.T) {
	img, _, err := Image(testSpec, testOptions(), pauseBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "pause.tar")
	const ref = "keyport.dev/pause:3.10"
	if err := WriteArchive(archive, img, ref, "3.10", testOptions().Created); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	names := untar(t, archive, dir)
	if names[0] != "blobs/" || !slices.Contains(names, "oci-layout") || !slices.Contains(names, "index.json") {
		t.Errorf("archive entries %q, want blobs/, index.json and oci-layout", names)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	index, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index.json has %d manifests, want 1", len(im.Manifests))
	}
	desc := im.Manifests[0]
	want, _ := img.Digest()
	if desc.Digest != want {
		t.Errorf("index.json has %s, want %s", desc.Digest, want)
	}
	if got := desc.Annotations["io.containerd.image.name"]; got != ref {
		t.Errorf("io.containerd.image.name = %q, want %q", got, ref)
	}
	if got := desc.Annotations["org.opencontainers.image.ref.name"]; got != "3.10" {
		t.Errorf("org.opencontainers.image.ref.name = %q, want 3.10", got)
	}
	if desc.Platform == nil || desc.Platform.OS != "linux" || desc.Platform.Architecture != runtime.GOARCH {
		t.Errorf("platform %+v, want linux/%s", desc.Platform, runtime.GOARCH)
	}
	read, err := p.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	// Every blob is there, and every digest, size and diff ID matches.
	if err := validate.Image(read); err != nil {
		t.Error(err)
	}
}

func TestLicenseID(t *testing.T) {
	text, err := os.ReadFile("../../../LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	if got := LicenseID(text); got != "Apache-2.0" {
		t.Errorf("LicenseID(LICENSE) = %q, want Apache-2.0", got)
	}
	if got := LicenseID([]byte("MIT License")); got != "" {
		t.Errorf("LicenseID(MIT) = %q, want empty", got)
	}
}

type file struct {
	*tar.Header
	data []byte
}

// imageFiles reads every layer of img, by name without a trailing slash.
func imageFiles(t *testing.T, img v1.Image) map[string]*file {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*file{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimSuffix(h.Name, "/")] = &file{h, data}
		}
		rc.Close()
	}
	return files
}

// untar extracts archive into dir and returns its entries' names in order.
func untar(t *testing.T, archive, dir string) []string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

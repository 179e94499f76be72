package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

const (
	// The image's user is distroless's "nonroot", so that the image runs
	// as the Dockerfile's (gcr.io/distroless/static:nonroot) does.
	user      = "65532:65532"
	nonrootID = 65532

	// caFile is where crypto/x509 looks first on Linux.
	caFile  = "etc/ssl/certs/ca-certificates.crt"
	sbomDir = "usr/share/sbom"
)

// entry is one file or directory of a layer. Names have no leading slash, as
// in every image layer.
type entry struct {
	name     string
	mode     int64 // permission bits
	uid, gid int
	dir      bool
	data     []byte
}

// assemble builds the image: a base layer that is the same in every image
// (so containerd stores it once) and a layer with the binary and its SBOM.
func assemble(s Spec, o Options, exe, sbom []byte) (v1.Image, error) {
	certs, err := caBundle()
	if err != nil {
		return nil, err
	}
	base, err := layer(baseFiles(certs), o.Created)
	if err != nil {
		return nil, err
	}
	app, err := layer([]entry{
		{name: "usr", mode: 0o755, dir: true},
		{name: "usr/share", mode: 0o755, dir: true},
		{name: sbomDir, mode: 0o755, dir: true},
		{name: path.Join(sbomDir, s.Name+".spdx.json"), mode: 0o644, data: sbom},
		// Read-only and owned by root: the nonroot user cannot replace it.
		{name: s.Name, mode: 0o555, data: exe},
	}, o.Created)
	if err != nil {
		return nil, err
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: o.GOARCH,
		OS:           "linux",
		RootFS:       v1.RootFS{Type: "layers"}, // mutate.Append adds the diff IDs
		Config: v1.Config{
			User:       user,
			Entrypoint: []string{"/" + s.Name},
			WorkingDir: "/",
			Labels:     labels(s, o),
		},
	})
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.Created.UTC()}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{
			Created: created, CreatedBy: "keyport-image: CA certificates, /etc/passwd, /etc/group",
		}},
		mutate.Addendum{Layer: app, MediaType: types.OCILayer, History: v1.History{
			Created: created, CreatedBy: "keyport-image: go build " + s.Package + " and its SBOM",
		}},
	)
	if err != nil {
		return nil, err
	}
	return mutate.CreatedAt(img, created)
}

// baseFiles are what a static Go binary may look for on a Linux system: CA
// certificates at the path crypto/x509 reads first, and passwd/group entries
// so that the user has a name and a home (os/user, $HOME). There is no
// shell and no other program.
func baseFiles(certs []byte) []entry {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group := "root:x:0:\n" +
		"nobody:x:65534:\n" +
		"nonroot:x:65532:\n"
	return []entry{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/ssl", mode: 0o755, dir: true},
		{name: "etc/ssl/certs", mode: 0o755, dir: true},
		{name: caFile, mode: 0o644, data: certs},
		{name: "home", mode: 0o755, dir: true},
		{name: "home/nonroot", mode: 0o700, dir: true, uid: nonrootID, gid: nonrootID},
		{name: "root", mode: 0o700, dir: true},
		// Sticky and writable by all, as everywhere: os.TempDir is /tmp.
		{name: "tmp", mode: 0o1777, dir: true},
	}
}

// caBundle renders the Mozilla (NSS) root certificates that
// golang.org/x/crypto/x509roots/fallback embeds as one PEM file, sorted by
// the certificates' SHA-256 so that the order does not depend on the
// module's. The bundle is pinned in go.mod, so every machine writes the same
// bytes, which the host's /etc/ssl would not give.
//
// Roots with a constraint (e.g. "distrusted for certificates issued after a
// date") are left out: a PEM file cannot express the constraint, and
// trusting such a root without it would trust more than Mozilla does.
func caBundle() ([]byte, error) {
	type root struct {
		sum  [sha256.Size]byte
		der  []byte
		name string
	}
	var roots []root
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		name := ""
		// A comment only; a certificate Go cannot parse is still written.
		if c, err := x509.ParseCertificate(r.Certificate); err == nil {
			name = c.Subject.String()
		}
		roots = append(roots, root{sha256.Sum256(r.Certificate), r.Certificate, name})
	}
	slices.SortFunc(roots, func(a, b root) int { return bytes.Compare(a.sum[:], b.sum[:]) })

	var out bytes.Buffer
	for _, r := range roots {
		if r.name != "" {
			out.WriteString("# " + strings.ReplaceAll(r.name, "\n", " ") + "\n")
		}
		out.WriteString("# SHA-256 " + hex.EncodeToString(r.sum[:]) + "\n")
		if err := pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: r.der}); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), nil
}

// layer writes entries as a gzipped tar, in name order and with mtime as
// every file's time, so that the same entries always give the same bytes
// (compress/gzip is deterministic for a Go version and writes no time or
// name into its header).
func layer(entries []entry, mtime time.Time) (v1.Layer, error) {
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })

	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: mtime.UTC().Truncate(time.Second),
		}
		if e.dir {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	compressed := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

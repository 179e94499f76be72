package imagebuild

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// The annotations of the image's entry in index.json that name it when
// containerd imports the archive. containerd 2.x (ctr images import, with or
// without --local) names an image by io.containerd.image.name when present
// and takes it as it is; org.opencontainers.image.ref.name alone would only
// be a tag ("dev"), which ctr prefixes with "import-DATE" unless given
// --base-name. The pair is what containerd's own exporter and Docker write.
const (
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

// WriteArchive writes img as a tar of an OCI image layout
// (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
// whose index.json names it ref (tag being ref's tag). The tar's entries are
// in name order with mtime as their time, so the same image always gives the
// same archive. The archive is written next to path and renamed, so a failed
// build never leaves a truncated one.
func WriteArchive(path string, img v1.Image, ref, tag string, mtime time.Time) error {
	dir, err := os.MkdirTemp("", "keyport-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	l, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	// The platform lets containerd pick the image for its own platform
	// without reading the config first.
	if err := l.AppendImage(img,
		layout.WithAnnotations(map[string]string{annotationImageName: ref, annotationRefName: tag}),
		layout.WithPlatform(v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture}),
	); err != nil {
		return err
	}

	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	if err := tarDir(tmp, dir, mtime); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// tarDir writes the files under dir to w as a tar, with names relative to
// dir. filepath.WalkDir visits them in lexical order.
func tarDir(w io.Writer, dir string, mtime time.Time) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(file string, d fs.DirEntry, err error) error {
		if err != nil || file == dir {
			return err
		}
		name, err := filepath.Rel(dir, file)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(name), ModTime: mtime.UTC().Truncate(time.Second)}
		if d.IsDir() {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
			return tw.WriteHeader(h)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, info.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

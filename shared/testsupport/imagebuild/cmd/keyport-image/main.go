// Command keyport-image builds Keyport's container images without Docker
// and writes each as an OCI image-layout archive that containerd imports:
//
//	go run ./shared/testsupport/imagebuild/cmd/keyport-image -out bin/images
//	ctr -n k8s.io images import bin/images/keyport-operator.tar
//
// Run it from the repository's root (it runs `go build` there). Building the
// same commit twice gives the same image digests.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/keyport-dev/keyport/shared/testsupport/imagebuild"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("keyport-image: ")

	out := flag.String("out", "bin/images", "directory for the archives (NAME.tar) and SBOMs (NAME.spdx.json)")
	registry := flag.String("registry", "keyport.dev", "first part of every image's name")
	version := flag.String("version", "dev", "the images' tag and org.opencontainers.image.version label")
	revision := flag.String("revision", "", "the org.opencontainers.image.revision label (default: git rev-parse HEAD)")
	source := flag.String("source", "https://github.com/keyport-dev/keyport", "the org.opencontainers.image.source label")
	epoch := flag.Int64("epoch", -1, "every timestamp in the images, in seconds since 1970 (default: $SOURCE_DATE_EPOCH, else the revision's commit time, else 0)")
	goarch := flag.String("arch", runtime.GOARCH, "GOARCH of the binaries")
	only := flag.String("only", "", "comma-separated image names to build (default: all)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	rev := *revision
	if rev == "" {
		rev = git(ctx, "rev-parse", "HEAD")
		// The label stays HEAD (a -dirty suffix would change the digest of
		// images whose files did not change), but say so.
		if rev != "" && git(ctx, "status", "--porcelain") != "" {
			log.Printf("warning: the work tree has uncommitted changes; images that contain them are still labelled revision %s", rev)
		}
	}
	opts := imagebuild.Options{
		Registry: *registry,
		Version:  *version,
		Revision: rev,
		Source:   *source,
		Created:  time.Unix(created(ctx, *epoch, rev), 0).UTC(),
		GOARCH:   *goarch,
	}
	if text, err := os.ReadFile("LICENSE"); err == nil {
		opts.License = imagebuild.LicenseID(text)
	}
	log.Printf("revision %s, created %s, %s/%s", orNone(opts.Revision), opts.Created.Format(time.RFC3339), "linux", opts.GOARCH)

	wanted := map[string]bool{}
	for _, name := range strings.Split(*only, ",") {
		if name != "" {
			wanted[name] = true
		}
	}
	for _, spec := range imagebuild.KeyportImages() {
		if len(wanted) > 0 && !wanted[spec.Name] {
			continue
		}
		start := time.Now()
		r, err := imagebuild.Build(ctx, spec, opts, *out)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-36s %s %6.1f MB  %s  (%.0fs)\n", r.Ref, r.Digest, float64(r.Size)/1e6, r.Archive, time.Since(start).Seconds())
	}
}

// created is the images' timestamp. A fixed one, never the current time, so
// that building again gives the same images; the commit's time still tells
// when the source was written.
func created(ctx context.Context, flagValue int64, revision string) int64 {
	if flagValue >= 0 {
		return flagValue
	}
	if env := os.Getenv("SOURCE_DATE_EPOCH"); env != "" {
		seconds, err := strconv.ParseInt(env, 10, 64)
		if err != nil {
			log.Fatalf("SOURCE_DATE_EPOCH=%q: %v", env, err)
		}
		return seconds
	}
	if revision != "" {
		if s := git(ctx, "show", "-s", "--format=%ct", revision); s != "" {
			if seconds, err := strconv.ParseInt(s, 10, 64); err == nil {
				return seconds
			}
		}
	}
	return 0
}

// git returns the output of a git command, or "" when there is no git or
// no repository: the images are still built, without a revision.
func git(ctx context.Context, args ...string) string {
	out, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

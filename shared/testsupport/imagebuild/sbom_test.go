package imagebuild

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestSBOMOfPause: the main module and the standard library, nothing else
// (the pause command imports only the standard library).
func TestSBOMOfPause(t *testing.T) {
	exe := pauseBinary(t)
	doc := sbomOf(t, exe, testSpec)

	if doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" || doc.SPDXID != "SPDXRef-DOCUMENT" {
		t.Errorf("document header %q %q %q", doc.SPDXVersion, doc.DataLicense, doc.SPDXID)
	}
	if doc.Name != "keyport.dev/pause:3.10" {
		t.Errorf("document name %q", doc.Name)
	}
	if doc.CreationInfo.Created != "2026-05-04T03:02:01Z" {
		t.Errorf("created %q, want the build's time", doc.CreationInfo.Created)
	}
	if len(doc.Packages) != 2 {
		t.Fatalf("%d packages, want the main module and stdlib: %+v", len(doc.Packages), doc.Packages)
	}

	m := doc.Packages[0]
	sum := sha256.Sum256(exe)
	revision := testOptions().Revision
	if m.Name != "github.com/keyport-dev/keyport" || m.VersionInfo != revision || m.PackageFileName != "/pause" {
		t.Errorf("main package %+v", m)
	}
	if len(m.Checksums) != 1 || m.Checksums[0].Algorithm != "SHA256" || m.Checksums[0].ChecksumValue != hex.EncodeToString(sum[:]) {
		t.Errorf("main package checksums %+v, want the binary's SHA-256", m.Checksums)
	}
	if got, want := purlOf(m), "pkg:golang/github.com/keyport-dev/keyport@"+revision; got != want {
		t.Errorf("main package purl %q, want %q", got, want)
	}
	if m.DownloadLocation != "git+https://github.com/keyport-dev/keyport@"+revision {
		t.Errorf("main package download location %q", m.DownloadLocation)
	}
	if m.LicenseDeclared != "Apache-2.0" {
		t.Errorf("main package license %q", m.LicenseDeclared)
	}

	std := doc.Packages[1]
	goVersion := strings.Fields(runtime.Version())[0] // the toolchain that built the binary
	if std.Name != "stdlib" || std.VersionInfo != goVersion || purlOf(std) != "pkg:golang/stdlib@"+strings.TrimPrefix(goVersion, "go") {
		t.Errorf("stdlib package %+v, want %s", std, goVersion)
	}

	if !hasRelationship(doc, "SPDXRef-DOCUMENT", "DESCRIBES", m.SPDXID) || !hasRelationship(doc, m.SPDXID, "DEPENDS_ON", std.SPDXID) {
		t.Errorf("relationships %+v", doc.Relationships)
	}
}

// TestSBOMOfDependency builds a binary with one module outside the standard
// library and compares the SBOM with what `go list` says of that module.
func TestSBOMOfDependency(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ratelimited")
	if err := Compile(t.Context(), "./testdata/ratelimited", runtime.GOARCH, out); err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	list, err := exec.CommandContext(t.Context(), "go", "list", "-m", "-f", "{{.Version}}", "golang.org/x/time").Output()
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(list))

	doc := sbomOf(t, exe, Spec{Name: "ratelimited"})
	var names []string
	for _, p := range doc.Packages {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, " "); got != "github.com/keyport-dev/keyport stdlib golang.org/x/time" {
		t.Fatalf("packages %q, want the main module, stdlib and golang.org/x/time", got)
	}
	dep := doc.Packages[2]
	if dep.VersionInfo != version || purlOf(dep) != "pkg:golang/golang.org/x/time@"+version {
		t.Errorf("golang.org/x/time: version %q, purl %q; want %s", dep.VersionInfo, purlOf(dep), version)
	}
	if !hasRelationship(doc, doc.Packages[0].SPDXID, "DEPENDS_ON", dep.SPDXID) {
		t.Errorf("no relationship main DEPENDS_ON golang.org/x/time: %+v", doc.Relationships)
	}
}

// TestSBOMOfReplacedModules: the package URL names what was linked, versions
// are percent-encoded, and identifiers are unique and valid.
func TestSBOMOfReplacedModules(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8 X:nodwarf5",
		Path:      "example.com/cmd/tool",
		Main:      debug.Module{Path: "example.com", Version: "v1.2.3"},
		Deps: []*debug.Module{
			{Path: "github.com/vmihailenco/msgpack", Version: "v4.0.4+incompatible"},
			{Path: "example.com/forked", Version: "v1.0.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.0.1"}},
			{Path: "example.com/local", Version: "v0.1.0", Replace: &debug.Module{Path: "../local"}},
			// Different paths whose identifiers would be the same.
			{Path: "a.b/c", Version: "v1.0.0"},
			{Path: "a.b_c", Version: "v1.0.0"},
		},
	}
	o := testOptions()
	o.Source = ""
	b, err := SBOM(bi, Spec{Name: "tool"}, o, strings.Repeat("0", 64))
	if err != nil {
		t.Fatal(err)
	}
	doc := parseSBOM(t, b)

	purls := map[string]string{}
	for _, p := range doc.Packages {
		purls[p.Name] = purlOf(p)
	}
	want := map[string]string{
		"example.com":                    "pkg:golang/example.com@v1.2.3", // a real module version wins over the revision
		"stdlib":                         "pkg:golang/stdlib@1.26.8",
		"github.com/vmihailenco/msgpack": "pkg:golang/github.com/vmihailenco/msgpack@v4.0.4%2Bincompatible",
		"example.com/forked":             "pkg:golang/example.com/fork@v1.0.1",
		"example.com/local":              "",
		"a.b/c":                          "pkg:golang/a.b/c@v1.0.0",
		"a.b_c":                          "pkg:golang/a.b_c@v1.0.0",
	}
	for name, purl := range want {
		if got, ok := purls[name]; !ok || got != purl {
			t.Errorf("%s: purl %q, want %q", name, got, purl)
		}
	}
	if doc.Packages[0].DownloadLocation != "NOASSERTION" {
		t.Errorf("download location %q without a source URL", doc.Packages[0].DownloadLocation)
	}
	if !strings.HasPrefix(doc.DocumentNamespace, "https://spdx.org/spdxdocs/") {
		t.Errorf("namespace %q", doc.DocumentNamespace)
	}
}

type testDocument struct {
	SPDXVersion       string
	DataLicense       string
	SPDXID            string
	Name              string
	DocumentNamespace string
	CreationInfo      struct{ Created string }
	Packages          []testPackage
	Relationships     []struct{ SpdxElementID, RelationshipType, RelatedSpdxElement string }
}

type testPackage struct {
	Name, SPDXID, VersionInfo, PackageFileName, DownloadLocation, LicenseDeclared string
	Checksums                                                                     []struct{ Algorithm, ChecksumValue string }
	ExternalRefs                                                                  []struct{ ReferenceCategory, ReferenceType, ReferenceLocator string }
}

func sbomOf(t *testing.T, exe []byte, s Spec) testDocument {
	t.Helper()
	bi, err := buildinfo.Read(bytes.NewReader(exe))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(exe)
	b, err := SBOM(bi, s, testOptions(), hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	again, err := SBOM(bi, s, testOptions(), hex.EncodeToString(sum[:]))
	if err != nil || !bytes.Equal(b, again) {
		t.Errorf("two SBOMs of the same binary differ (%v)", err)
	}
	return parseSBOM(t, b)
}

var spdxID = regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.-]+$`)

// parseSBOM decodes an SBOM and checks what holds for every one: valid and
// unique identifiers, and relationships between elements that exist.
func parseSBOM(t *testing.T, b []byte) testDocument {
	t.Helper()
	var doc testDocument
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{doc.SPDXID: true}
	for _, p := range doc.Packages {
		if !spdxID.MatchString(p.SPDXID) || ids[p.SPDXID] {
			t.Errorf("package %s: identifier %q invalid or not unique", p.Name, p.SPDXID)
		}
		ids[p.SPDXID] = true
	}
	for _, r := range doc.Relationships {
		if !ids[r.SpdxElementID] || !ids[r.RelatedSpdxElement] {
			t.Errorf("relationship %+v between unknown elements", r)
		}
	}
	return doc
}

func purlOf(p testPackage) string {
	for _, r := range p.ExternalRefs {
		if r.ReferenceType == "purl" {
			return r.ReferenceLocator
		}
	}
	return ""
}

func hasRelationship(doc testDocument, from, kind, to string) bool {
	for _, r := range doc.Relationships {
		if r.SpdxElementID == from && r.RelationshipType == kind && r.RelatedSpdxElement == to {
			return true
		}
	}
	return false
}

package imagebuild

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// An SPDX 2.3 document (https://spdx.github.io/spdx-spec/v2.3/), only the
// fields the SBOM of a Go binary needs. Struct fields keep the JSON in a
// fixed order, so the same binary always gives the same bytes.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name                  string            `json:"name"`
	SPDXID                string            `json:"SPDXID"`
	VersionInfo           string            `json:"versionInfo,omitempty"`
	PackageFileName       string            `json:"packageFileName,omitempty"`
	DownloadLocation      string            `json:"downloadLocation"`
	FilesAnalyzed         bool              `json:"filesAnalyzed"`
	Checksums             []spdxChecksum    `json:"checksums,omitempty"`
	LicenseDeclared       string            `json:"licenseDeclared,omitempty"`
	SourceInfo            string            `json:"sourceInfo,omitempty"`
	Comment               string            `json:"comment,omitempty"`
	PrimaryPackagePurpose string            `json:"primaryPackagePurpose,omitempty"`
	ExternalRefs          []spdxExternalRef `json:"externalRefs,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

const noAssertion = "NOASSERTION"

// SBOM returns an SPDX 2.3 JSON document for a Go binary from its build
// info: the main module (the binary itself, with its SHA-256), the Go
// standard library and every module linked in, each with its version and
// package URL (pkg:golang/...), which is what vulnerability scanners match.
func SBOM(bi *debug.BuildInfo, s Spec, o Options, binarySHA256 string) ([]byte, error) {
	ids := spdxIDs{}
	mainPkg := spdxPackage{
		Name:                  bi.Main.Path,
		SPDXID:                ids.next("Package-" + bi.Main.Path),
		VersionInfo:           bi.Main.Version,
		PackageFileName:       "/" + s.Name,
		DownloadLocation:      noAssertion,
		Checksums:             []spdxChecksum{{Algorithm: "SHA256", ChecksumValue: binarySHA256}},
		LicenseDeclared:       o.License,
		Comment:               "The Go binary /" + s.Name + ", built from the package " + bi.Path + ".",
		PrimaryPackagePurpose: "APPLICATION",
	}
	// A binary built from a work tree, not from a module version, has no
	// version of its own ("(devel)"); the commit it was built from is the
	// most precise version there is.
	if mainPkg.VersionInfo == "" || mainPkg.VersionInfo == "(devel)" {
		mainPkg.VersionInfo = o.Revision
	}
	if mainPkg.VersionInfo == "" {
		mainPkg.VersionInfo = o.Version
	}
	if o.Revision != "" {
		mainPkg.SourceInfo = "built from revision " + o.Revision
		if strings.HasPrefix(o.Source, "https://") {
			// SPDX's form of a Git location: git+URL@revision.
			mainPkg.DownloadLocation = "git+" + o.Source + "@" + o.Revision
		}
	}
	mainPkg.ExternalRefs = purl(bi.Main.Path, mainPkg.VersionInfo)

	// Go reports its version as e.g. "go1.26.8" (perhaps followed by
	// experiments); package URLs of the standard library carry "1.26.8".
	goVersion, _, _ := strings.Cut(bi.GoVersion, " ")
	std := spdxPackage{
		Name:                  "stdlib",
		SPDXID:                ids.next("Package-stdlib"),
		VersionInfo:           goVersion,
		DownloadLocation:      "https://go.dev/dl/",
		LicenseDeclared:       "BSD-3-Clause",
		Comment:               "The Go standard library and runtime linked into the binary.",
		PrimaryPackagePurpose: "LIBRARY",
		ExternalRefs:          purl("stdlib", strings.TrimPrefix(goVersion, "go")),
	}

	doc := spdxDocument{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              o.Ref(s),
		DocumentNamespace: namespace(s, o, binarySHA256),
		CreationInfo: spdxCreationInfo{
			Created:  o.Created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: keyport-image"},
		},
		Packages: []spdxPackage{mainPkg, std},
		Relationships: []spdxRelationship{
			{Element: "SPDXRef-DOCUMENT", Type: "DESCRIBES", Related: mainPkg.SPDXID},
			{Element: mainPkg.SPDXID, Type: "DEPENDS_ON", Related: std.SPDXID},
		},
	}

	deps := slices.Clone(bi.Deps)
	slices.SortFunc(deps, func(a, b *debug.Module) int { return strings.Compare(a.Path, b.Path) })
	for _, d := range deps {
		p := spdxPackage{
			Name:                  d.Path,
			SPDXID:                ids.next("Package-" + d.Path + "-" + d.Version),
			VersionInfo:           d.Version,
			DownloadLocation:      noAssertion,
			PrimaryPackagePurpose: "LIBRARY",
			ExternalRefs:          purl(d.Path, d.Version),
		}
		if r := d.Replace; r != nil {
			// What was linked is the replacement: name it in the purl, which
			// is what is matched against vulnerability databases.
			p.VersionInfo = r.Version
			p.ExternalRefs = purl(r.Path, r.Version)
			p.Comment = fmt.Sprintf("%s %s is replaced by %s %s.", d.Path, d.Version, r.Path, r.Version)
			if r.Version == "" {
				p.Comment = fmt.Sprintf("%s %s is replaced by the directory %s.", d.Path, d.Version, r.Path)
				p.ExternalRefs = nil // a directory has no package URL
			}
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships,
			spdxRelationship{Element: mainPkg.SPDXID, Type: "DEPENDS_ON", Related: p.SPDXID})
	}

	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// namespace is the document's unique URI, required by SPDX. It is derived
// from the binary's checksum, not random, so that the same binary gives the
// same document (and image).
func namespace(s Spec, o Options, binarySHA256 string) string {
	base := "https://spdx.org/spdxdocs/keyport-image"
	if strings.HasPrefix(o.Source, "https://") {
		base = strings.TrimSuffix(o.Source, "/") + "/spdx"
	}
	return base + "/" + s.Name + "-" + binarySHA256
}

// purl is the package URL of a Go module (https://github.com/package-url/purl-spec),
// e.g. pkg:golang/golang.org/x/time@v0.15.0.
func purl(path, version string) []spdxExternalRef {
	locator := "pkg:golang/" + purlEscape(path, true)
	if version != "" {
		locator += "@" + purlEscape(version, false)
	}
	return []spdxExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: locator}}
}

// purlEscape percent-encodes what the purl specification does not allow
// as-is, e.g. the + of v4.0.4+incompatible; slashes separate a module
// path's segments and are kept.
func purlEscape(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '-', c == '_', c == '~', c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// spdxIDs gives every element an SPDX identifier made of the letters,
// digits, dots and hyphens SPDX allows, unique within the document.
type spdxIDs map[string]bool

func (ids spdxIDs) next(name string) string {
	id := "SPDXRef-" + strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, name)
	unique := id
	for n := 2; ids[unique]; n++ {
		unique = fmt.Sprintf("%s-%d", id, n)
	}
	ids[unique] = true
	return unique
}

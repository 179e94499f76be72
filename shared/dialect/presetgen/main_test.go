package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedFilesAreCurrent fails while the Preset type or the README's
// preset table differs from what the preset table renders.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	const root = "../../.."
	files, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what shared/dialect/presets.go renders: run `make manifests generate`", name)
		}
	}
}

// TestCommentWrapsForKubectlExplain: no line of text is longer than the
// 76 columns `kubectl explain` shows without breaking it again.
func TestCommentWrapsForKubectlExplain(t *testing.T) {
	var b bytes.Buffer
	comment(&b, "\t", "  - ", strings.Repeat("word ", 60))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) < 4 {
		t.Fatalf("not wrapped: %q", b.String())
	}
	for i, l := range lines {
		if w := len(strings.ReplaceAll(l, "\t", "    ")) - len("// "); w > 76 {
			t.Errorf("line %d is %d columns: %q", i, w, l)
		}
		want := "\t//     word"
		if i == 0 {
			want = "\t//   - word"
		}
		if !strings.HasPrefix(l, want) {
			t.Errorf("line %d = %q, want it to start %q", i, l, want)
		}
	}
}

package testenv

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// ParseManifests splits a multi-document YAML stream into objects.
func ParseManifests(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := d.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// DecodeManifests is ParseManifests for a test; source names the stream in
// a failure.
func DecodeManifests(t testing.TB, source string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := ParseManifests(data)
	if err != nil {
		t.Fatalf("%s: decode: %v", source, err)
	}
	return objs
}

// Kustomize renders a kustomization with `kubectl kustomize`, as
// `kubectl apply -k` would.
func Kustomize(t testing.TB, dir string) []*unstructured.Unstructured {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is not on PATH: it is needed to render %s with `kubectl kustomize` (install kubectl >= 1.27)", dir)
	}
	cmd := exec.Command(kubectl, "kustomize", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	return DecodeManifests(t, "kubectl kustomize "+dir, out)
}

// Package secretvolume writes a Secret into a folder the way the kubelet's
// atomic writer projects a Secret volume: each key is a symlink through
// ..data to a timestamped folder, and an update writes a new timestamped
// folder and swaps ..data to it with one rename. Workloads that read the
// files on every request see each update whole, never half-written. Tests
// and the demo (which has no kubelet) use it to mount token Secrets.
package secretvolume

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Project writes data into dir with the kubelet's layout, replacing what a
// previous Project wrote there in one atomic rename.
func Project(dir string, data map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stamp := time.Now().UTC().Format("..2006_01_02_15_04_05.000000000")
	tsDir := filepath.Join(dir, stamp)
	if err := os.Mkdir(tsDir, 0o755); err != nil {
		return err
	}
	for key, value := range data {
		if err := os.WriteFile(filepath.Join(tsDir, key), value, 0o644); err != nil {
			return err
		}
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(stamp, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") {
			continue
		}
		if _, still := data[name]; !still {
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
	for key := range data {
		link := filepath.Join(dir, key)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", key), link); err != nil {
			return err
		}
	}
	if old != "" && old != stamp {
		return os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

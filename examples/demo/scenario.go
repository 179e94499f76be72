package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// tokenExpiry is the expiry the operator wrote on a token Secret.
func (d *demo) tokenExpiry(ctx context.Context, secret string) (string, error) {
	s := &corev1.Secret{}
	if err := d.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: secret}, s); err != nil {
		return "", err
	}
	return s.Annotations[keyportv1.AnnotationExpiresAt], nil
}

// ingestAcrossRotation mounts the ingestion channel's Secret, runs the
// example workload against it, waits for the token to rotate and requires
// every message before and after the rotation to be accepted.
func (d *demo) ingestAcrossRotation(ctx context.Context) error {
	ic := &keyportv1.IngestionChannel{}
	if err := d.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "acme-uat"}, ic); err != nil {
		return err
	}
	secret := ic.Status.OutputSecretName
	d.tally = &workloadTally{expiries: map[string]int{}, firstSeen: map[string]time.Time{}}
	if d.node != nil {
		logs, err := d.startIngestPod(ctx, secret)
		if err != nil {
			return err
		}
		go d.tally.read(logs)
	} else if err := d.startIngestProcess(ctx, secret); err != nil {
		return err
	}
	tally := d.tally

	first, err := d.tokenExpiry(ctx, secret)
	if err != nil {
		return err
	}
	info("current token expires %s; waiting for the operator to rotate it…", first)
	var second string
	// A line now and then says the workload is at work, without burying
	// the rotation under one line per message.
	heartbeat := time.Now()
	err = poll(ctx, d.lifetime+time.Minute, "a token rotation", func() (bool, string, error) {
		second, err = d.tokenExpiry(ctx, secret)
		if time.Since(heartbeat) >= 20*time.Second {
			heartbeat = time.Now()
			ok, failed, _ := tally.counts(first)
			info("│ workload: %d messages sent with the current token so far, %d failed", ok, failed)
		}
		return err == nil && second != first, second, nil
	})
	if err != nil {
		return err
	}
	rotatedAt := time.Now()
	sent, failed := tally.sinceLast()
	fmt.Printf("\033[1m⟳ %s  rotated: the Secret now holds a token expiring %s (the old one was still valid until %s); "+
		"the workload sent %d messages before, %d failed\033[0m\n", rotatedAt.Format("15:04:05"), second, first, sent, failed)
	err = poll(ctx, d.budget+time.Minute, "two messages sent with the new token", func() (bool, string, error) {
		if d.workload != nil && d.workload.exited() {
			return false, "", fmt.Errorf("the example workload exited")
		}
		ok, failed, _ := tally.counts(second)
		if failed > 0 {
			return false, "", fmt.Errorf("the workload had %d failed requests: %s", failed, tally.lastFailure())
		}
		return ok >= 2, fmt.Sprintf("%d with the new token", ok), nil
	})
	if err != nil {
		return err
	}
	if d.node != nil {
		info("the pod sent its first message with the new token %s after the Secret changed (kubelet sync period %s, propagation budget %s)",
			tally.firstSeenAt(second).Sub(rotatedAt).Round(100*time.Millisecond), d.kubeletSync, d.budget)
	}
	okOld, _, total := tally.counts(first)
	okNew, failed, _ := tally.counts(second)
	if okOld == 0 {
		return fmt.Errorf("no message was sent with the token from before the rotation")
	}
	messages, err := d.platform.Messages(ctx)
	if err != nil {
		return err
	}
	accepted := 0
	for _, m := range messages {
		if m.ChannelID == ingestionChannelID {
			accepted++
		}
	}
	if accepted < total {
		return fmt.Errorf("the workload reported %d messages sent, the platform received %d", total, accepted)
	}
	info("✔ %d messages accepted by the platform (%d with the old token, %d with the new one), %d failed", total, okOld, okNew, failed)
	return nil
}

// workloadTally reads the example workload's output lines:
//
//	sent ContainerEvent #3: 202 Accepted (token expires 2026-11-23T08:01:02Z)
//	send failed: ...
//
// It counts the messages instead of echoing one line every two seconds,
// which would bury the rotations: a failure is printed at once, the first
// message with each token is printed, and the rest is summed up per rotation
// (sinceLast).
type workloadTally struct {
	mu        sync.Mutex
	expiries  map[string]int
	firstSeen map[string]time.Time // by token expiry: the first message sent with it
	total     int
	failed    int
	failure   string
	// Since the last summary.
	sentSince, failedSince int
}

func (w *workloadTally) read(r io.Reader) {
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		line := scanner.Text()
		w.mu.Lock()
		var print func()
		switch {
		case strings.HasPrefix(line, "sent "):
			if _, exp, ok := strings.Cut(line, "token expires "); ok {
				exp = strings.TrimSuffix(exp, ")")
				if w.expiries[exp] == 0 {
					w.firstSeen[exp] = time.Now()
					print = func() { info("│ workload: %s  ← the first message with this token", line) }
				}
				w.expiries[exp]++
				w.total++
				w.sentSince++
			}
		case strings.Contains(line, "failed"):
			w.failed++
			w.failedSince++
			w.failure = line
			print = func() { info("\033[1;31m✘ workload: %s\033[0m", line) }
		default:
			print = func() { info("│ workload: %s", line) }
		}
		w.mu.Unlock()
		if print != nil {
			print()
		}
	}
}

// sinceLast returns the messages sent and failed since its last call.
func (w *workloadTally) sinceLast() (sent, failed int) {
	if w == nil {
		return 0, 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	sent, failed = w.sentSince, w.failedSince
	w.sentSince, w.failedSince = 0, 0
	return sent, failed
}

// counts: messages sent with the token expiring at expiry, failures, all sent.
func (w *workloadTally) counts(expiry string) (int, int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.expiries[expiry], w.failed, w.total
}

// firstSeenAt is when the first message with the token expiring at expiry
// was sent (zero if none was).
func (w *workloadTally) firstSeenAt(expiry string) time.Time {
	if w == nil {
		return time.Time{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstSeen[expiry]
}

func (w *workloadTally) lastFailure() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failure
}

// deliverNotification makes the platform send a VisitCreated event and
// checks that it arrived with the bearer token from the generated Secret.
func (d *demo) deliverNotification(ctx context.Context) error {
	nc := &keyportv1.NotificationChannel{}
	if err := d.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "cpu-uat-visits"}, nc); err != nil {
		return err
	}
	generated := nc.Status.GeneratedSecretName
	if err := d.mountSecret(ctx, generated, filepath.Join(d.state, "mounts", generated)); err != nil {
		return err
	}
	info("channel %q registered at the platform as %s; receiver reads Secret %s from its mount", nc.Spec.ChannelName, nc.Status.ChannelID, generated)
	deliveries, err := d.platform.Notify(ctx, "VisitCreated", map[string]string{"visitId": "V-1001", "terminal": "DEMO"})
	if err != nil {
		return err
	}
	if len(deliveries) != 1 {
		return fmt.Errorf("the platform made %d deliveries of VisitCreated, want 1", len(deliveries))
	}
	if del := deliveries[0]; del.Error != "" || del.Status >= 300 {
		return fmt.Errorf("the platform's delivery failed: status %d %s", del.Status, del.Error)
	}
	got := d.receiver.received()
	if len(got) == 0 || !got[len(got)-1].verified || got[len(got)-1].eventType != "VisitCreated" {
		return fmt.Errorf("the receiver did not verify the delivery: %+v", got)
	}
	info("✔ VisitCreated delivered; its Authorization matched the bearer token in Secret %s", generated)
	return nil
}

// leakScan searches everything the demo produced that a person or a tool
// could read for the secret values it used, raw and base64-encoded.
func (d *demo) leakScan(ctx context.Context) error {
	sources := map[string][]byte{}
	files := []string{filepath.Join("terraform", "terraform.tfstate")}
	if d.node != nil {
		logs, err := d.operatorPodLogs(ctx)
		if err != nil {
			return fmt.Errorf("leak scan: %w", err)
		}
		sources["the operator pods' logs"] = logs
	} else {
		files = append(files, "operator.log")
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(d.state, f))
		if err != nil {
			return fmt.Errorf("leak scan: %w", err)
		}
		sources[f] = data
	}
	var objects strings.Builder
	if err := d.kubectl(ctx, &objects, nil, "get", "events,apiclients,m2mcertificates,ingestionchannels,notificationchannels", "-n", namespace, "-o", "yaml"); err != nil {
		return err
	}
	sources["events and statuses"] = []byte(objects.String())
	for name, data := range sources {
		for secretName, value := range d.secrets {
			for _, form := range []string{value, base64.StdEncoding.EncodeToString([]byte(value))} {
				if strings.Contains(string(data), form) {
					return fmt.Errorf("leak scan: the value of %s appears in %s", secretName, name)
				}
			}
		}
	}
	info("✔ none of the %d secret values appears in the operator log, the events, the statuses or the Terraform state", len(d.secrets))
	return nil
}

// watchRotations prints each token Secret's new expiry as the operator
// rotates it, until ctx ends.
func (d *demo) watchRotations(ctx context.Context) error {
	last := map[string]string{}
	// rotated: when each new expiry reached a Secret, until the ingest
	// workload's pod first sends with it.
	rotated := map[string]time.Time{}
	for {
		for exp, at := range rotated {
			if used := d.tally.firstSeenAt(exp); !used.IsZero() {
				fmt.Printf("    %s  %-18s the ingest pod used the token expiring %s %s after the Secret changed\n",
					time.Now().Format("15:04:05"), "", exp, used.Sub(at).Round(100*time.Millisecond))
				delete(rotated, exp)
			}
		}
		var acs keyportv1.ApiClientList
		if err := d.client.List(ctx, &acs); err == nil {
			for _, ac := range acs.Items {
				exp, err := d.tokenExpiry(ctx, ac.Status.OutputSecretName)
				if err != nil || exp == "" {
					continue
				}
				if prev, seen := last[ac.Name]; seen && prev != exp {
					calls := ""
					if ac.Name == ingestionClient {
						sent, failed := d.tally.sinceLast()
						calls = fmt.Sprintf("; the ingest workload sent %d messages since the last rotation, %d failed", sent, failed)
						if d.node != nil {
							rotated[exp] = time.Now()
						}
					}
					fmt.Printf("\033[1m⟳ %s  %-18s token rotated: expiry %s → %s%s\033[0m\n", time.Now().Format("15:04:05"), ac.Name, prev, exp, calls)
				}
				last[ac.Name] = exp
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// startIngestProcess mounts the ingestion channel's Secret as the kubelet
// would and runs the example workload as a process against it.
func (d *demo) startIngestProcess(ctx context.Context, secret string) error {
	mount := filepath.Join(d.state, "mounts", secret)
	if err := d.mountSecret(ctx, secret, mount); err != nil {
		return err
	}
	caFile := filepath.Join(d.state, "sandbox-ca.crt")
	if err := os.WriteFile(caFile, d.platformCA, 0o644); err != nil {
		return err
	}
	info("Secret %s mounted at %s (kubelet layout: ..data symlink swapped on change)", secret, rel(mount))
	cmd := exec.Command(filepath.Join(d.bin, "keyport-ingest-example"), "-channel-dir", mount, "-ca-file", caFile, "-every", "2s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if d.workload, err = startProcess(cmd); err != nil {
		return fmt.Errorf("start the example workload (run `make build` first): %w", err)
	}
	info("started %s -channel-dir %s", rel(cmd.Path), rel(mount))
	go d.tally.read(stdout)
	return nil
}

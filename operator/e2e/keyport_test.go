package e2e

import (
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/node"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// TestKeyportOnANode installs the operator with its chart and follows it
// through what a platform team does with it, in order: workloads reading
// rotated tokens, deletions cleaned up by the cluster's own controllers,
// operator pods lost and replaced, an upgrade, an uninstall.
func TestKeyportOnANode(t *testing.T) {
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace, Labels: restricted}})
	helmInstall(t, "dev")
	ns := tenant(t, "terminal")

	t.Run("the chart runs two operator pods under the restricted standard, one of them leading", func(t *testing.T) {
		pods := waitOperatorReady(t, 2, operatorImage+":dev")
		eventually(t, time.Minute, "a leader among the operator pods", func() (bool, string) {
			holder := leaseHolder(t)
			return holder == pods[0].Name || holder == pods[1].Name, "lease held by " + holder
		})

		// In-cluster configuration: the kubelet gave the operator the
		// `kubernetes` Service's address, and leading means it got through
		// kube-proxy's rules to the API server.
		if host := containerEnv(t, &pods[0], "KUBERNETES_SERVICE_HOST"); host != node.KubernetesServiceIP {
			t.Errorf("the operator's KUBERNETES_SERVICE_HOST is %q, want the kubernetes Service's %s", host, node.KubernetesServiceIP)
		}
		// The kubelet resolved the downward API: the operator knows its
		// container's memory limit, and sets Go's memory limit from it.
		limit := deployment(t).Spec.Template.Spec.Containers[0].Resources.Limits.Memory().Value()
		if got := containerEnv(t, &pods[0], "KEYPORT_MEMORY_LIMIT"); got != strconv.FormatInt(limit, 10) {
			t.Errorf("the operator's KEYPORT_MEMORY_LIMIT is %q, want its container's memory limit %d", got, limit)
		}
	})

	t.Run("a workload pod reads every rotated token through its Secret volume", func(t *testing.T) {
		create(t, portCommunityClient(ns, "visits"))
		first := waitToken(t, ns, "visits-token")
		pod := workloadPod(ns, "visits-reader", "visits-token")
		create(t, pod)
		waitPodRunning(t, pod)
		started := time.Now()
		before := platform.Counters()[sandbox.EndpointAPI][clientID]

		delays := followRotations(t, ns, "visits-token", tokenID(t, first.AccessToken), 3)
		t.Logf("Secret update → first call with the new token from the pod (kubelet syncFrequency %s): %s", syncFrequency, formatDelays(delays))
		for i, d := range delays {
			if d > propagationBudget {
				t.Errorf("rotation %d took %s to reach the pod, more than the %s propagation budget", i+1, d, propagationBudget)
			}
		}
		after := platform.Counters()[sandbox.EndpointAPI][clientID]
		calls, failed := after.Requests-before.Requests, after.Failed-before.Failed
		t.Logf("the pod made %d API calls in %s, %d failed", calls, time.Since(started).Round(time.Second), failed)
		if failed != 0 {
			t.Errorf("%d of the pod's %d API calls failed (logs: %s)", failed, calls, podLog(t, pod))
		}
		if min := int(time.Since(started).Seconds() / 2); calls < min {
			t.Errorf("the pod made %d calls in %s, want one a second", calls, time.Since(started).Round(time.Second))
		}
	})

	t.Run("the metrics Service serves the leader's token metrics", func(t *testing.T) {
		// The Service balances between both pods; only the leader
		// reconciles, so scrape until a connection lands on it.
		eventually(t, time.Minute, "token metrics through the metrics Service", func() (bool, string) {
			metrics := scrapeMetricsService(t)
			return strings.Contains(metrics, `keyport_apiclient_token_expiry_timestamp_seconds{`), fmt.Sprintf("%.300s", metrics)
		})
	})

	t.Run("a token taken as an environment variable stays what it was when the pod started", func(t *testing.T) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "env-reader"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{restrictedContainer(corev1.Container{
				Name: "env", Image: workloadImage,
				Args: []string{"-token-dir=/nonexistent", "-url=" + platform.URL() + "/api/v1/visits", "-every=1h"},
				Env: []corev1.EnvVar{{Name: "ACCESS_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "visits-token"}, Key: tokensecret.KeyAccessToken}}}},
			})}},
		}
		create(t, pod)
		waitPodRunning(t, pod)
		atStart := containerEnv(t, pod, "ACCESS_TOKEN")
		if tok, _ := token(t, ns, "visits-token"); atStart == "" || atStart != tok.AccessToken {
			t.Fatal("the environment variable does not hold the token the Secret held when the pod started")
		}
		followRotations(t, ns, "visits-token", tokenID(t, atStart), 1)
		now, _ := token(t, ns, "visits-token")
		if containerEnv(t, pod, "ACCESS_TOKEN") != atStart || now.AccessToken == atStart {
			t.Fatal("expected the environment variable to keep the old token after a rotation")
		}
		t.Log("after a rotation the environment variable still holds the old token: mount the Secret as a volume")
	})

	t.Run("a pod gets a request_uri from the SoftPOS API's PAR endpoint with only its mounted certificate", func(t *testing.T) {
		pushFromAPod(t, ns)
	})

	t.Run("deleting an ApiClient removes its Secret through the garbage collector", func(t *testing.T) {
		create(t, portCommunityClient(ns, "short-lived"))
		waitToken(t, ns, "short-lived-token")
		if err := theNode.Client.Delete(ctx(t), &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "short-lived"}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "the token Secret gone", func() (bool, string) {
			err := theNode.Client.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: "short-lived-token"}, &corev1.Secret{})
			return apierrors.IsNotFound(err), fmt.Sprintf("get: %v", err)
		})
	})

	for _, force := range []bool{false, true} {
		how := "gracefully"
		if force {
			how = "with --grace-period=0 --force"
		}
		t.Run("an operator pod deleted "+how+" is replaced, the Lease moves and no token is requested twice", func(t *testing.T) {
			leader := leaseHolder(t)
			watch := watchTokens(t, ns, "visits-token")
			requestsBefore := platform.Counters().Requests(sandbox.EndpointConnectToken, clientID)
			opts := []client.DeleteOption{}
			if force {
				opts = append(opts, client.GracePeriodSeconds(0))
			}
			if err := theNode.Client.Delete(ctx(t), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: leader}}, opts...); err != nil {
				t.Fatal(err)
			}
			pods := waitOperatorReady(t, 2, operatorImage+":dev")
			eventually(t, 2*time.Minute, "the Lease held by another pod", func() (bool, string) {
				holder := leaseHolder(t)
				return holder != leader && (holder == pods[0].Name || holder == pods[1].Name), "lease held by " + holder
			})
			// A refresh that falls in the failover may be answered by the
			// platform a moment before its token reaches the Secret: give the
			// write time to land. A token requested twice never catches up.
			var tokens tokenWatchResult
			var requests int
			eventually(t, 20*time.Second, "every token requested during the failover in the Secret", func() (bool, string) {
				tokens = watch.snapshot()
				requests = platform.Counters().Requests(sandbox.EndpointConnectToken, clientID) - requestsBefore
				return requests == tokens.new, fmt.Sprintf("%d token requests for %d new tokens: the failover asked for a token it did not need", requests, tokens.new)
			})
			tokens = watch.stop()
			t.Logf("leader %s deleted %s: %d new tokens reached the Secret, %d token requests", leader, how, tokens.new, requests)
			if tokens.expiredFor > 0 {
				t.Errorf("the Secret held an expired token for %s during the failover", tokens.expiredFor)
			}
		})
	}

	t.Run("helm upgrade to a new image rolls the operator while every token stays valid", func(t *testing.T) {
		buildOperatorImage(t, "upgrade")
		watch := watchTokens(t, ns, "visits-token")
		helmUpgrade(t, "upgrade")
		waitOperatorReady(t, 2, operatorImage+":upgrade")
		tokens := watch.stop()
		if tokens.expiredFor > 0 {
			t.Errorf("the Secret held an expired token for %s during the upgrade", tokens.expiredFor)
		}
		if got := deployment(t).Spec.Template.Spec.Containers[0].Image; got != operatorImage+":upgrade" {
			t.Errorf("Deployment image %s after the upgrade", got)
		}
	})

	t.Run("deleting a namespace with ApiClients and NotificationChannels finishes and removes the registrations", func(t *testing.T) {
		gone := tenant(t, "leaving")
		create(t, portCommunityClient(gone, "a"))
		// Two channels registered through the same ApiClient, as a team
		// subscribes to several event types with one set of credentials.
		create(t, sandboxChannel(gone, "visits", "a", keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthNone}))
		create(t, sandboxChannel(gone, "vessels", "a", keyportv1.WebhookAuthentication{
			Type: keyportv1.WebhookAuthStaticBearer, GeneratedSecretName: "vessels-webhook"}))
		ids := map[string]bool{}
		for _, name := range []string{"visits", "vessels"} {
			ids[waitRegistered(t, gone, name)] = true
		}
		deleted := time.Now()
		if err := theNode.Client.Delete(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: gone}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Minute, "namespace "+gone+" deleted", func() (bool, string) {
			var n corev1.Namespace
			err := theNode.Client.Get(ctx(t), client.ObjectKey{Name: gone}, &n)
			return apierrors.IsNotFound(err), fmt.Sprintf("%v %+v; left: %s", err, n.Status.Conditions, leftovers(t, gone))
		})
		t.Logf("namespace deleted in %s", time.Since(deleted).Round(100*time.Millisecond))
		for _, c := range platform.NotificationChannels() {
			if ids[c.ID] {
				t.Errorf("channel %s (%s) is still registered at the platform after its namespace was deleted", c.ID, c.Name)
			}
		}
	})
	t.Run("helm uninstall leaves the users' Secrets alone", func(t *testing.T) {
		helmUninstall(t)
		eventually(t, time.Minute, "no operator pod", func() (bool, string) {
			return len(operatorPods(t)) == 0, fmt.Sprintf("%d pods", len(operatorPods(t)))
		})
		for _, name := range []string{"visits-token", "terminal-credentials", "platform-ca"} {
			if err := theNode.Client.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: name}, &corev1.Secret{}); err != nil {
				t.Errorf("Secret %s after helm uninstall: %v", name, err)
			}
		}
		if _, ok := token(t, ns, "visits-token"); !ok {
			t.Error("the token Secret lost its token")
		}
	})

	t.Run("the kustomize overlay installs an operator that takes over the tokens", func(t *testing.T) {
		objs := kustomizeInstall(t, operatorImage+":dev")
		eventually(t, 3*time.Minute, "the overlay's operator pod Ready", func() (bool, string) {
			pods := operatorPods(t)
			return len(pods) == 1 && podReady(pods[0]), fmt.Sprintf("%d pods", len(pods))
		})
		// Left alone since the uninstall, the token is refreshed again.
		current, _ := token(t, ns, "visits-token")
		followRotations(t, ns, "visits-token", tokenID(t, current.AccessToken), 1)
		kustomizeDelete(t, objs)
	})

}

// sandboxChannel is a NotificationChannel registered at the sandbox's
// management API with the token of the ApiClient apiClient. Nothing
// listens at the webhook: the platform does not call it to register it.
func sandboxChannel(ns, name, apiClient string, auth keyportv1.WebhookAuthentication) *keyportv1.NotificationChannel {
	return &keyportv1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: keyportv1.NotificationChannelSpec{
			Platform:    keyportv1.PlatformReference{Driver: sandbox.Driver, ApiClientName: apiClient, ManagementURL: platform.URL(), Parameters: sandbox.DriverParameters()},
			ChannelName: ns + "-" + name, WebhookURL: "https://hooks.terminal.example/keyport/" + name,
			EventTypes: []string{"VisitCreated"}, Authentication: auth,
		},
	}
}

// waitRegistered waits until a NotificationChannel is Ready and the
// platform holds its registration, and returns the registration's id.
func waitRegistered(t *testing.T, ns, name string) string {
	t.Helper()
	var id string
	eventually(t, 2*time.Minute, "NotificationChannel "+name+" registered", func() (bool, string) {
		var nc keyportv1.NotificationChannel
		if err := theNode.Client.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: name}, &nc); err != nil {
			return false, err.Error()
		}
		ready := apimeta.FindStatusCondition(nc.Status.Conditions, keyportv1.ConditionReady)
		if ready == nil || ready.Status != metav1.ConditionTrue || nc.Status.ChannelID == "" {
			return false, fmt.Sprintf("conditions %+v", nc.Status.Conditions)
		}
		id = nc.Status.ChannelID
		return slices.ContainsFunc(platform.NotificationChannels(), func(c sandbox.NotificationChannel) bool { return c.ID == id }),
			"channel " + id + " is not at the platform"
	})
	return id
}

// leftovers names what is left of Keyport's resources in a namespace and
// what holds them, for a deletion that does not finish.
func leftovers(t *testing.T, ns string) string {
	t.Helper()
	var out []string
	var channels keyportv1.NotificationChannelList
	if err := theNode.Client.List(ctx(t), &channels, client.InNamespace(ns)); err == nil {
		for _, c := range channels.Items {
			out = append(out, fmt.Sprintf("NotificationChannel %s %v %+v", c.Name, c.Finalizers, c.Status.Conditions))
		}
	}
	var clients keyportv1.ApiClientList
	if err := theNode.Client.List(ctx(t), &clients, client.InNamespace(ns)); err == nil {
		for _, c := range clients.Items {
			out = append(out, fmt.Sprintf("ApiClient %s %v", c.Name, c.Finalizers))
		}
	}
	var secrets corev1.SecretList
	if err := theNode.Client.List(ctx(t), &secrets, client.InNamespace(ns)); err == nil {
		for _, s := range secrets.Items {
			out = append(out, fmt.Sprintf("Secret %s %v", s.Name, s.Finalizers))
		}
	}
	return strings.Join(out, "; ")
}

// followRotations waits for n tokens after the one with id current to reach
// the Secret and then to be used by a workload; it returns, per token, the
// time from the Secret update to the platform's first call with it.
func followRotations(t *testing.T, ns, secretName, current string, n int) []time.Duration {
	t.Helper()
	updated := map[string]time.Time{}
	var order []string
	deadline := time.Now().Add(time.Duration(n+1)*tokenLifetime + time.Minute)
	for time.Now().Before(deadline) {
		if tok, ok := token(t, ns, secretName); ok {
			if id := tokenID(t, tok.AccessToken); id != current {
				if _, seen := updated[id]; !seen {
					updated[id] = time.Now()
					order = append(order, id)
				}
				current = id
			}
		}
		if len(order) >= n {
			used := platform.FirstUses()
			var delays []time.Duration
			for _, id := range order[:n] {
				if at, ok := used[id]; ok {
					delays = append(delays, at.Sub(updated[id]))
				}
			}
			if len(delays) == n {
				return delays
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("saw %d of %d rotations reach the workload within the deadline", len(order), n)
	return nil
}

// tokenWatch follows a token Secret in the background.
type tokenWatch struct {
	done   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	result tokenWatchResult
}

type tokenWatchResult struct {
	new        int           // tokens that replaced the one before
	expiredFor time.Duration // time the Secret held no valid token
}

func watchTokens(t *testing.T, ns, secretName string) *tokenWatch {
	w := &tokenWatch{done: make(chan struct{})}
	first, _ := token(t, ns, secretName)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		last, lastCheck := first.AccessToken, time.Now()
		for {
			select {
			case <-w.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			tok, ok := token(t, ns, secretName)
			now := time.Now()
			w.mu.Lock()
			if !ok || !now.Before(tok.ExpiresAt) {
				w.result.expiredFor += now.Sub(lastCheck)
			}
			if ok && tok.AccessToken != last {
				w.result.new++
				last = tok.AccessToken
			}
			w.mu.Unlock()
			lastCheck = now
		}
	}()
	return w
}

// snapshot is what the watch has seen so far; it keeps watching.
func (w *tokenWatch) snapshot() tokenWatchResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.result
}

func (w *tokenWatch) stop() tokenWatchResult {
	close(w.done)
	w.wg.Wait()
	return w.snapshot()
}

// buildOperatorImage builds the operator image again with another version
// (so another digest) and loads it onto the node, as a release would.
func buildOperatorImage(t *testing.T, version string) {
	t.Helper()
	out := t.TempDir()
	build := exec.Command("go", "run", "./shared/testsupport/imagebuild/cmd/keyport-image", "-out", out, "-version", version, "-only", "keyport-operator")
	build.Dir = testenv.RepoRoot()
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the operator image: %v\n%s", err, msg)
	}
	if err := theNode.ImportImage(filepath.Join(out, "keyport-operator.tar")); err != nil {
		t.Fatal(err)
	}
}

// containerEnv is a variable of a pod's first container as containerd
// started it.
func containerEnv(t *testing.T, pod *corev1.Pod, name string) string {
	t.Helper()
	if err := theNode.Client.Get(ctx(t), client.ObjectKeyFromObject(pod), pod); err != nil {
		t.Fatal(err)
	}
	_, id, ok := strings.Cut(pod.Status.ContainerStatuses[0].ContainerID, "://")
	if !ok {
		t.Fatalf("pod %s has no container id", pod.Name)
	}
	env, err := theNode.ContainerEnv(id)
	if err != nil {
		t.Fatal(err)
	}
	return env[name]
}

// podLog is the end of a pod's log, read through the API server from the
// kubelet as `kubectl logs` does.
func podLog(t *testing.T, pod *corev1.Pod) string {
	t.Helper()
	req := theNode.Clientset().CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{TailLines: ptr.To(int64(20))})
	r, err := req.Stream(ctx(t))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer r.Close()
	data, _ := io.ReadAll(io.LimitReader(r, 64*1024))
	return string(data)
}

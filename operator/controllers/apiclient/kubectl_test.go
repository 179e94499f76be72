package apiclient_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// kubectlGet runs the real `kubectl get apiclients` against the test API
// server and returns each row by column header, as a person reads it.
func kubectlGet(t *testing.T, kubeconfig, ns string) map[string]map[string]string {
	t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is not on PATH: it is needed to check what `kubectl get` shows (install kubectl >= 1.27)")
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command(path, "--kubeconfig", kubeconfig, "get", "apiclients", "-n", ns)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl get apiclients: %v: %s", err, stderr.String())
	}
	// kubectl aligns the cells under their headers and leaves an empty
	// cell blank, so cells are cut where the headers start.
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	header := strings.Fields(lines[0])
	starts := make([]int, len(header))
	for i, h := range header {
		starts[i] = strings.Index(lines[0], h)
	}
	rows := map[string]map[string]string{}
	for _, line := range lines[1:] {
		row := map[string]string{}
		for i, h := range header {
			end := len(line)
			if i+1 < len(starts) {
				end = min(starts[i+1], len(line))
			}
			if starts[i] < end {
				row[h] = strings.TrimSpace(line[starts[i]:end])
			}
		}
		rows[row["NAME"]] = row
	}
	return rows
}

// TestKubectlGetShowsWhatIsTrue: what `kubectl get apiclients` prints at a
// glance is true. A client whose tokens do not fit its refresh policy works
// (Ready True) but does not read as all well; SECRET names a Secret only once
// it holds a token; NEXT-REFRESH is not in the past after a refresh; and each
// problem raises one event, a Warning.
func TestKubectlGetShowsWhatIsTrue(t *testing.T) {
	ns := setup(t)
	kubeconfig, err := env.Kubeconfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	short := shortSandbox(t, ns) // 20 s tokens
	// Driven on a fake clock: the first refresh comes without waiting.
	op := drive(t, ns, newClock(), nil)
	healthy := shortClient(ns, "healthy", short)
	create(t, healthy)
	infeasible := shortClient(ns, "infeasible", short)
	infeasible.Spec.Refresh.PropagationBudget.Duration = 18 * time.Second
	create(t, infeasible)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "wrong", Namespace: ns},
		StringData: map[string]string{"client_id": clientID, "client_secret": "not-the-secret"}})
	create(t, newApiClient(ns, "refused", keyportv1.ApiClientSpec{TokenURL: sb.URL() + "/connect/token",
		Credentials: &keyportv1.CredentialsSource{SecretName: "wrong"}}))
	for _, name := range []string{"healthy", "infeasible", "refused"} {
		op.reconcile(name)
	}

	var rows map[string]map[string]string
	eventually(t, 15*time.Second, "every client reported", func() (bool, string) {
		rows = kubectlGet(t, kubeconfig, ns)
		return rows["healthy"]["READY"] == "True" && rows["infeasible"]["READY"] == "True" && rows["refused"]["READY"] == "False", fmt.Sprint(rows)
	})
	if got := rows["infeasible"]["REASON"]; got != keyportv1.ReasonPolicyInfeasible {
		t.Errorf("an infeasible policy shows REASON %q, want %s: %v", got, keyportv1.ReasonPolicyInfeasible, rows["infeasible"])
	}
	if got := rows["healthy"]["REASON"]; got != keyportv1.ReasonTokenRefreshed {
		t.Errorf("a healthy client shows REASON %q: %v", got, rows["healthy"])
	}
	if got := rows["refused"]["REASON"]; got != keyportv1.ReasonInvalidCredentials {
		t.Errorf("refused credentials show REASON %q: %v", got, rows["refused"])
	}
	if got := rows["refused"]["SECRET"]; got != "" {
		t.Errorf("a client that never had a token shows SECRET %q, a Secret that does not exist", got)
	}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "refused-token"}, &corev1.Secret{}); err == nil {
		t.Error("a Secret was written for a client that never had a token")
	}
	for _, name := range []string{"healthy", "infeasible"} {
		if got := rows[name]["SECRET"]; got != name+"-token" {
			t.Errorf("%s shows SECRET %q, want %s-token", name, got, name)
		}
	}

	// The first refresh of the healthy client: before it, the status showed
	// the first token's planned refresh, which has just passed.
	first, _, _ := tokenIn(t, ns, "healthy-token")
	refreshAt, _ := refreshTimes(t, ns, "healthy-token")
	op.at(refreshAt, "healthy")
	if tok, _, _ := tokenIn(t, ns, "healthy-token"); tok.AccessToken == first.AccessToken {
		t.Fatal("no refresh at the refresh time")
	}
	_, secret, _ := tokenIn(t, ns, "healthy-token")
	eventually(t, 3*time.Second, "kubectl showing the Secret's token and its next refresh", func() (bool, string) {
		row := kubectlGet(t, kubeconfig, ns)["healthy"]
		next, err := time.Parse(time.RFC3339, row["NEXT-REFRESH"])
		if err != nil {
			return false, fmt.Sprint(row)
		}
		return row["EXPIRES"] == secret.Annotations[keyportv1.AnnotationExpiresAt] && next.After(op.clk.Now()) &&
				row["NEXT-REFRESH"] == secret.Annotations[keyportv1.AnnotationRefreshAt], fmt.Sprintf("%v, the Secret says expires %s, refresh %s",
				row, secret.Annotations[keyportv1.AnnotationExpiresAt], secret.Annotations[keyportv1.AnnotationRefreshAt])
	})

	// One event per problem, a Warning; the healthy client's first token is
	// one Normal event.
	want := map[string]string{"healthy": corev1.EventTypeNormal + " " + keyportv1.ReasonTokenRefreshed,
		"infeasible": corev1.EventTypeWarning + " " + keyportv1.ReasonPolicyInfeasible,
		"refused":    corev1.EventTypeWarning + " " + keyportv1.ReasonInvalidCredentials}
	eventually(t, 5*time.Second, "one event per client", func() (bool, string) {
		var events corev1.EventList
		if err := env.Client.List(context.Background(), &events, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		got := map[string][]string{}
		for _, e := range events.Items {
			for range e.Count {
				got[e.InvolvedObject.Name] = append(got[e.InvolvedObject.Name], e.Type+" "+e.Reason)
			}
		}
		for name, w := range want {
			if len(got[name]) != 1 || got[name][0] != w {
				return false, fmt.Sprintf("events %v, want one per client: %v", got, want)
			}
		}
		return true, ""
	})
	scanForSecrets(t, ns, "not-the-secret")
}

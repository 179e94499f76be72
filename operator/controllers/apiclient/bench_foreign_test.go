package apiclient_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keyport-dev/keyport/shared/testsupport/testenv/operatorproc"
)

// foreignSecretSize is the size of each Secret that is not Keyport's, about
// that of a Helm release Secret.
const foreignSecretSize = 100 << 10

// phaseFigures are what one operator process did during one token lifetime.
type phaseFigures struct {
	cpu, rss       float64
	p50, p99       time.Duration
	expiredSeconds float64
	refreshes      uint64
}

// foreignSecretsPhase measures what Secrets that are none of Keyport's
// business cost the operator: the same ApiClients for one token lifetime
// with a freshly started operator, first as they are, then with count
// Secrets of 100 KiB added to the namespace (a real cluster's Helm
// releases, service-account tokens and other teams' keys). The operator
// should hold none of their data and refresh no later because of them.
func foreignSecretsPhase(b *testing.B, bin, ns string, n, count int, lifetime time.Duration, tokens *tokenWatch, running *operatorproc.Process) {
	running.Stop()
	without := measurePhase(b, bin, ns, n, lifetime, tokens)

	ctx := context.Background()
	start := time.Now()
	var created atomic.Int64
	parallel(16, count, func(i int) {
		data := make([]byte, foreignSecretSize)
		_, _ = rand.Read(data)
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("foreign-%05d", i), Namespace: ns,
			Labels: map[string]string{"owner": "helm", "name": fmt.Sprintf("release-%d", i)}},
			Data: map[string][]byte{"release": data}}
		if err := env.Client.Create(ctx, s); err == nil {
			created.Add(1)
		}
	})
	if int(created.Load()) != count {
		b.Fatalf("created %d of %d foreign Secrets", created.Load(), count)
	}
	createdIn := time.Since(start)
	with := measurePhase(b, bin, ns, n, lifetime, tokens)

	fmt.Printf("  foreign Secrets (%d of %d KiB, %.0f MiB, created in %v), each phase one lifetime from a fresh operator start, on %s:\n",
		count, foreignSecretSize>>10, float64(count*foreignSecretSize)/(1<<20), createdIn.Round(time.Second), machine())
	for _, p := range []struct {
		name string
		f    phaseFigures
	}{{"without", without}, {"with", with}} {
		fmt.Printf("    %-7s: operator %.1f CPU-s (%.2f cores), peak RSS %.0f MiB, %d refreshes timed, lateness p50 %v p99 %v, expired-token seconds %.0f\n",
			p.name, p.f.cpu, p.f.cpu/lifetime.Seconds(), p.f.rss, p.f.refreshes, p.f.p50.Round(time.Millisecond), p.f.p99.Round(time.Millisecond), p.f.expiredSeconds)
	}
	later := "no"
	if with.p99 > without.p99 {
		later = fmt.Sprintf("yes, by %v at p99", (with.p99 - without.p99).Round(time.Millisecond))
	}
	fmt.Printf("    difference: peak RSS %+.1f MiB, CPU %+.1f s; refreshes later with them: %s\n", with.rss-without.rss, with.cpu-without.cpu, later)
	b.ReportMetric(with.rss-without.rss, "foreign-secrets-rss-delta-MiB")
}

// measurePhase starts the operator, lets it run one token lifetime and
// stops it. CPU and memory count from the process's start, so they include
// the cache's initial list.
func measurePhase(b *testing.B, bin, ns string, n int, lifetime time.Duration, tokens *tokenWatch) phaseFigures {
	op := startOperatorProcess(b, bin, ns, n)
	var f phaseFigures
	end := time.Now().Add(lifetime)
	for time.Now().Before(end) {
		f.expiredSeconds += float64(tokens.expired(time.Now()))
		time.Sleep(time.Second)
	}
	after := latenessHistogram(b, op)
	f.p50, f.p99 = quantiles(nil, after)
	f.refreshes = after.GetSampleCount()
	var err error
	f.cpu, err = op.CPUSeconds()
	must(b, err)
	f.rss = op.PeakRSSMiB()
	op.Stop()
	return f
}

// machine names the machine's cores for every printed result: figures
// from two shared cores and from a larger machine are not comparable.
func machine() string {
	model := ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	if model == "" {
		return fmt.Sprintf("%d CPUs", runtime.NumCPU())
	}
	return fmt.Sprintf("%d CPUs (%s)", runtime.NumCPU(), model)
}

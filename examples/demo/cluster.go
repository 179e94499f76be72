package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/helmchart"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/node"
)

// The demo runs on a node where the machine can run one (package node):
// the operator installed by its chart, the sandbox and the ingestion
// workload as pods, Secrets delivered by the kubelet. Elsewhere it runs on
// a control plane without nodes, with the operator and the workload as
// processes and Secrets copied into folders by the demo itself.

const (
	// platformsNamespace holds the sandbox's pod: the partner platforms
	// are outside the users' namespaces.
	platformsNamespace = "platforms"
	// platformPort is where the sandbox's pod listens on the node's address.
	platformPort = "8443"
	imageTag     = "dev"
)

// startControlPlane starts kube-apiserver and etcd (no node).
func (d *demo) startControlPlane() error {
	// A fresh cluster every run: yesterday's objects point at a sandbox
	// that no longer exists.
	if err := os.RemoveAll(filepath.Join(d.state, "etcd")); err != nil {
		return err
	}
	env, err := testenv.StartWith(testenv.Options{DataDir: filepath.Join(d.state, "etcd")})
	if err != nil {
		return err
	}
	d.env, d.client = env, env.Client
	if d.kubeconfig, err = env.Kubeconfig(d.state); err != nil {
		return err
	}
	info("API server %s, CRDs of Keyport and cert-manager installed", env.Config.Host)
	info("kubeconfig: %s", d.kubeconfig)
	return nil
}

func (d *demo) nodeState() string { return filepath.Join(d.state, "node") }

// startNode starts the node with the demo's images and installs
// cert-manager's CRDs (Keyport's come with its chart).
func (d *demo) startNode() error {
	n, err := node.Start(node.Options{
		StateDir:      d.nodeState(),
		SyncFrequency: d.kubeletSync,
		Images:        []string{"keyport-operator.tar", "keyport-sandbox.tar", "keyport-ingest.tar"},
		Log:           &prefixWriter{w: os.Stdout},
	})
	if n != nil {
		d.node = n
	}
	if err != nil {
		return err
	}
	d.client = n.Client
	if d.kubeconfig, err = n.Kubeconfig(); err != nil {
		return err
	}
	crds, err := testenv.CertManagerCRDDir()
	if err != nil {
		return err
	}
	files, _ := filepath.Glob(filepath.Join(crds, "*.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		objs, err := testenv.ParseManifests(data)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, o := range objs {
			if err := n.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("keyport-demo"), client.ForceOwnership); err != nil {
				return fmt.Errorf("install cert-manager's CRDs: %w", err)
			}
		}
	}
	// cert-manager's informers start next: its kinds must be served.
	err = poll(context.Background(), time.Minute, "cert-manager's CRDs established", func() (bool, string, error) {
		err := n.Client.List(context.Background(), &certmanagerv1.IssuerList{})
		return err == nil, fmt.Sprint(err), nil
	})
	if err != nil {
		return err
	}
	info("node %s (%s), kubelet syncs Secrets into pods every %s; cert-manager's CRDs installed", node.NodeName, node.NodeIP, d.kubeletSync)
	info("kubeconfig: %s", d.kubeconfig)
	return nil
}

// startPlatformPod runs the sandbox as a pod on the node's network (the
// platform is outside the cluster for the operator and the workloads) and
// the webhook receiver in this process on the node's address.
func (d *demo) startPlatformPod(ctx context.Context) error {
	l, err := d.node.Listen("tcp", node.NodeIP+":0")
	if err != nil {
		return err
	}
	recv, err := startReceiver(l, filepath.Join(d.state, "mounts", "cpu-webhook"))
	if err != nil {
		return err
	}
	d.receiver = recv

	// The sandbox writes its CA into a folder of this machine, which the
	// demo reads to trust it.
	out := filepath.Join(d.state, "platform")
	_ = os.RemoveAll(out)
	if err := os.MkdirAll(out, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(out, 0o777); err != nil { // writable by the pod's user, whatever the umask
		return err
	}
	clients, err := jsonText(d.demoClients())
	if err != nil {
		return err
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platformsNamespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: platformsNamespace, Name: "sandbox-config"},
			StringData: map[string]string{"clients.json": clients, "webhook-ca.crt": string(recv.caPEM)}},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: platformsNamespace, Name: "sandbox", Labels: map[string]string{"app": "sandbox"}},
			Spec: corev1.PodSpec{
				HostNetwork: true,
				Containers: []corev1.Container{{
					Name: "sandbox", Image: "keyport.dev/keyport-sandbox:" + imageTag, ImagePullPolicy: corev1.PullNever,
					Args: []string{"-addr=" + node.NodeIP + ":" + platformPort, "-hosts=" + node.NodeIP,
						"-clients=/etc/sandbox/clients.json", "-webhook-ca=/etc/sandbox/webhook-ca.crt",
						"-ca-out=/out/ca.crt", "-token-lifetime=" + d.lifetime.String()},
					VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/sandbox", ReadOnly: true}, {Name: "out", MountPath: "/out"}},
				}},
				Volumes: []corev1.Volume{
					{Name: "config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sandbox-config"}}},
					{Name: "out", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: out}}},
				},
			},
		},
	}
	for _, o := range objs {
		if err := d.client.Create(ctx, o); err != nil {
			return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	caFile := filepath.Join(out, "ca.crt")
	err = poll(ctx, 2*time.Minute, "the sandbox pod serving", func() (bool, string, error) {
		ca, err := os.ReadFile(caFile)
		if err != nil || len(ca) == 0 {
			return false, "no CA written yet", nil
		}
		d.platformCA = ca
		return true, "", nil
	})
	if err != nil {
		return err
	}
	d.platformURL = "https://" + node.NodeIP + ":" + platformPort
	d.platform = sandbox.Admin{URL: d.platformURL, HTTP: d.node.HTTPClient(&tls.Config{RootCAs: pool(d.platformCA), MinVersion: tls.VersionTLS12})}
	err = poll(ctx, time.Minute, "the sandbox answering", func() (bool, string, error) {
		_, err := d.platform.Messages(ctx)
		return err == nil, fmt.Sprint(err), nil
	})
	if err != nil {
		return err
	}
	info("sandbox pod %s/sandbox at %s (host network of the node); %v tokens", platformsNamespace, d.platformURL, d.lifetime)
	info("webhook receiver %s", recv.url)
	return nil
}

// installOperator installs the chart of this checkout with the image that
// `make images` built, as a platform team would with helm.
func (d *demo) installOperator(ctx context.Context) error {
	r := helmchart.Release{Kubeconfig: d.kubeconfig, Namespace: systemNamespace, Name: "keyport"}
	if err := r.Install(helmchart.ImageValues("keyport.dev/keyport-operator", imageTag, 1)); err != nil {
		return err
	}
	info("release keyport in %s: Deployment Ready (restricted Pod Security Standard), metrics Service keyport-metrics", systemNamespace)
	return nil
}

// startIngestPod runs examples/ingest as a pod that mounts the ingestion
// channel's Secret and returns its log stream.
func (d *demo) startIngestPod(ctx context.Context, secret string) (io.Reader, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "ingest"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "ingest", Image: "keyport.dev/keyport-ingest:" + imageTag, ImagePullPolicy: corev1.PullNever,
				Args: []string{"-channel-dir=/var/run/keyport/channel", "-ca-file=/etc/platform-ca/ca.crt", "-every=2s"},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "channel", MountPath: "/var/run/keyport/channel", ReadOnly: true},
					{Name: "platform-ca", MountPath: "/etc/platform-ca", ReadOnly: true},
				},
				SecurityContext: &corev1.SecurityContext{
					RunAsNonRoot: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "channel", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}},
				{Name: "platform-ca", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sandbox-ca"}}},
			},
		},
	}
	if err := d.client.Create(ctx, pod); err != nil {
		return nil, err
	}
	err := poll(ctx, 2*time.Minute, "the ingest pod running", func() (bool, string, error) {
		if err := d.client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return false, err.Error(), nil
		}
		return pod.Status.Phase == corev1.PodRunning, string(pod.Status.Phase), nil
	})
	if err != nil {
		return nil, err
	}
	info("pod %s/ingest mounts Secret %s (the kubelet keeps the files current); its log follows", namespace, secret)
	return d.node.Clientset().CoreV1().Pods(namespace).GetLogs("ingest", &corev1.PodLogOptions{Follow: true}).Stream(ctx)
}

// operatorPodLogs are the logs of the operator's pods, as `kubectl logs`
// shows them.
func (d *demo) operatorPodLogs(ctx context.Context) ([]byte, error) {
	var pods corev1.PodList
	if err := d.client.List(ctx, &pods, client.InNamespace(systemNamespace)); err != nil {
		return nil, err
	}
	var all bytes.Buffer
	for _, p := range pods.Items {
		if !strings.HasPrefix(p.Name, "keyport-") {
			continue
		}
		data, err := d.node.Clientset().CoreV1().Pods(systemNamespace).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			return nil, fmt.Errorf("logs of %s: %w", p.Name, err)
		}
		all.Write(data)
	}
	return all.Bytes(), nil
}

// nodeUnavailable says why the demo runs without a node, or "" when it can
// run on one.
func nodeUnavailable() string {
	if err := node.CanRun(); err != nil {
		return err.Error()
	}
	return ""
}

func jsonText(v any) (string, error) {
	data, err := json.Marshal(v)
	return string(data), err
}

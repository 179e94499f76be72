// Package secretcache sets up the operator's cache and client so that its
// memory follows Keyport's own objects, not the cluster's Secrets.
//
// A namespace holds many Secrets that are none of Keyport's business: Helm
// releases of hundreds of KiB each, service-account tokens, other teams'
// keys. The manager's cache holds full Secret objects only for those that
// Keyport writes (labelled keyportv1.LabelManagedBy at creation). Of every
// other Secret it holds the metadata alone, from a watch of its own, which
// is enough to notice that a Secret a Keyport resource references changed.
// Their content is read when a controller asks for it: through the
// manager's client, with a live GET, kept in memory beside the
// resourceVersion it was read at, so that it is read again only after the
// Secret changed, and forgotten when no Get asked for it in an hour.
//
// For a controller nothing changes but this: a Get of a *corev1.Secret
// through the manager's client returns any Secret, as before; a watch of
// *corev1.Secret sees Keyport's Secrets, and a watch of the Secret's
// metadata (builder.OnlyMetadata) everyone else's.
package secretcache

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// The live read of a referenced Secret's content is a get.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// Configure makes the manager's cache, client and REST mapper work as the
// package describes. The options' Cache settings (namespaces, per-object
// selectors) still apply; Configure adds the Secret selector to them.
func Configure(o *ctrl.Options) {
	o.NewCache = newCache
	o.NewClient = newClient
	o.MapperProvider = func(c *rest.Config, hc *http.Client) (meta.RESTMapper, error) {
		m, err := apiutil.NewDynamicRESTMapper(c, hc)
		if err != nil {
			return nil, err
		}
		return &memoMapper{RESTMapper: m}, nil
	}
}

var (
	secretGVK     = corev1.SchemeGroupVersion.WithKind("Secret")
	secretListGVK = corev1.SchemeGroupVersion.WithKind("SecretList")
)

// Selectors of the two Secret caches: one's objects are never the other's.
func keyports() labels.Selector {
	return labels.SelectorFromSet(labels.Set{keyportv1.LabelManagedBy: keyportv1.ManagedByValue})
}

func others() labels.Selector {
	r, err := labels.NewRequirement(keyportv1.LabelManagedBy, selection.NotEquals, []string{keyportv1.ManagedByValue})
	if err != nil {
		panic(err)
	}
	return labels.NewSelector().Add(*r)
}

// newCache builds the manager's cache: the usual one, where Secrets are
// Keyport's only, and beside it a metadata-only cache of all other Secrets.
func newCache(cfg *rest.Config, opts cache.Options) (cache.Cache, error) {
	owned := opts
	owned.ByObject = maps.Clone(opts.ByObject)
	if owned.ByObject == nil {
		owned.ByObject = map[client.Object]cache.ByObject{}
	}
	owned.ByObject[&corev1.Secret{}] = cache.ByObject{Label: keyports()}
	main, err := cache.New(cfg, owned)
	if err != nil {
		return nil, err
	}
	foreign, err := cache.New(cfg, cache.Options{
		HTTPClient:           opts.HTTPClient,
		Scheme:               opts.Scheme,
		Mapper:               opts.Mapper,
		DefaultNamespaces:    opts.DefaultNamespaces,
		DefaultLabelSelector: others(),
		// Names, owners, finalizers and the resourceVersion are what is
		// used of them; annotations can be large (kubectl's
		// last-applied-configuration holds a whole Secret).
		DefaultTransform: func(in any) (any, error) {
			if o, err := meta.Accessor(in); err == nil {
				o.SetManagedFields(nil)
				o.SetAnnotations(nil)
			}
			return in, nil
		},
	})
	if err != nil {
		return nil, err
	}
	return &split{Cache: main, foreign: foreign}, nil
}

// split is the manager's cache with the metadata of others' Secrets in a
// cache of their own.
type split struct {
	cache.Cache
	foreign cache.Cache
}

// isForeign reports whether obj is Secret metadata, which the foreign cache
// holds for the Secrets that are not Keyport's.
func isForeign(obj runtime.Object) bool {
	switch o := obj.(type) {
	case *metav1.PartialObjectMetadata:
		return o.GroupVersionKind() == secretGVK
	case *metav1.PartialObjectMetadataList:
		gvk := o.GroupVersionKind()
		return gvk == secretGVK || gvk == secretListGVK
	}
	return false
}

// Get reads Secret metadata from whichever cache has the Secret, so that a
// Get of metadata finds Keyport's Secrets too.
func (s *split) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if !isForeign(obj) {
		return s.Cache.Get(ctx, key, obj, opts...)
	}
	err := s.foreign.Get(ctx, key, obj, opts...)
	if !apierrors.IsNotFound(err) {
		return err
	}
	full := &corev1.Secret{}
	if err := s.Cache.Get(ctx, key, full, opts...); err != nil {
		return err
	}
	pom := obj.(*metav1.PartialObjectMetadata)
	pom.ObjectMeta = full.ObjectMeta
	return nil
}

// List lists Secret metadata from both caches.
func (s *split) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if !isForeign(list) {
		return s.Cache.List(ctx, list, opts...)
	}
	if err := s.foreign.List(ctx, list, opts...); err != nil {
		return err
	}
	var full corev1.SecretList
	if err := s.Cache.List(ctx, &full, opts...); err != nil {
		return err
	}
	pl := list.(*metav1.PartialObjectMetadataList)
	for _, item := range full.Items {
		pl.Items = append(pl.Items, metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: item.ObjectMeta})
	}
	return nil
}

func (s *split) GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error) {
	if isForeign(obj) {
		return s.foreign.GetInformer(ctx, obj, opts...)
	}
	return s.Cache.GetInformer(ctx, obj, opts...)
}

func (s *split) RemoveInformer(ctx context.Context, obj client.Object) error {
	if isForeign(obj) {
		return s.foreign.RemoveInformer(ctx, obj)
	}
	return s.Cache.RemoveInformer(ctx, obj)
}

func (s *split) IndexField(ctx context.Context, obj client.Object, field string, extract client.IndexerFunc) error {
	if isForeign(obj) {
		return s.foreign.IndexField(ctx, obj, field, extract)
	}
	return s.Cache.IndexField(ctx, obj, field, extract)
}

func (s *split) Start(ctx context.Context) error {
	errs := make(chan error, 2)
	go func() { errs <- s.foreign.Start(ctx) }()
	go func() { errs <- s.Cache.Start(ctx) }()
	err := <-errs
	return errors.Join(err, <-errs)
}

func (s *split) WaitForCacheSync(ctx context.Context) bool {
	return s.Cache.WaitForCacheSync(ctx) && s.foreign.WaitForCacheSync(ctx)
}

// newClient is the manager's client, whose Get of a Secret that is not
// Keyport's reads it from the API server when it changed since the last
// read.
func newClient(cfg *rest.Config, opts client.Options) (client.Client, error) {
	c, err := client.New(cfg, opts)
	if err != nil {
		return nil, err
	}
	liveOpts := opts
	liveOpts.Cache = nil
	live, err := client.New(cfg, liveOpts)
	if err != nil {
		return nil, err
	}
	return newSecretClient(c, live, clock.RealClock{}), nil
}

// forgetUnusedAfter is how long the content of a Secret is remembered
// without being asked for. A Keyport resource reads the Secrets it names at
// each of its refreshes, so a content no Get wanted for this long is most
// likely one whose resource is gone or names another Secret now: the
// credentials of a deleted ApiClient do not stay in the operator's memory
// until it restarts. Forgetting one that is still used costs one live read.
const forgetUnusedAfter = time.Hour

func newSecretClient(c client.Client, live client.Reader, clk clock.PassiveClock) *secretClient {
	return &secretClient{Client: c, live: live, clock: clk, contents: map[types.NamespacedName]*remembered{}, swept: clk.Now()}
}

type secretClient struct {
	client.Client
	live  client.Reader
	clock clock.PassiveClock

	mu sync.Mutex
	// contents are the Secrets read live, at the resourceVersion they
	// carry: only Secrets that a Keyport resource names.
	contents map[types.NamespacedName]*remembered
	// swept is when contents were last searched for what is unused.
	swept time.Time
}

type remembered struct {
	secret *corev1.Secret
	used   time.Time
}

// Get reads a Secret from the cache when it is Keyport's. Otherwise the
// metadata cache says whether it exists and at which resourceVersion, and
// its content comes from the last live read at that version or a new one.
// An output Secret written by a version of Keyport that did not label its
// Secrets is found that way too; the controller that owns it labels it
// with its next write (ownedsecret.Apply), and from then on it is cached.
func (c *secretClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return c.Client.Get(ctx, key, obj, opts...)
	}
	err := c.Client.Get(ctx, key, s, opts...)
	if !apierrors.IsNotFound(err) {
		return err
	}
	pom := &metav1.PartialObjectMetadata{}
	pom.SetGroupVersionKind(secretGVK)
	if err := c.Client.Get(ctx, key, pom); err != nil {
		if apierrors.IsNotFound(err) {
			c.forget(key)
		}
		return err
	}
	if c.recall(key, pom.ResourceVersion, s) {
		return nil
	}
	if err := c.live.Get(ctx, key, s); err != nil {
		if apierrors.IsNotFound(err) {
			c.forget(key)
		}
		return err
	}
	s.ManagedFields = nil
	kept := s.DeepCopy()
	c.mu.Lock()
	c.contents[key] = &remembered{secret: kept, used: c.clock.Now()}
	c.mu.Unlock()
	return nil
}

// recall copies the remembered content of the Secret into s when it was
// read at resourceVersion, and forgets what has not been asked for in
// forgetUnusedAfter (looking at most four times in that span).
func (c *secretClient) recall(key types.NamespacedName, resourceVersion string, s *corev1.Secret) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	if now.Sub(c.swept) >= forgetUnusedAfter/4 {
		c.swept = now
		for k, r := range c.contents {
			if now.Sub(r.used) >= forgetUnusedAfter {
				delete(c.contents, k)
			}
		}
	}
	known := c.contents[key]
	if known == nil || known.secret.ResourceVersion != resourceVersion {
		return false
	}
	known.used = now
	known.secret.DeepCopyInto(s)
	return true
}

func (c *secretClient) forget(key types.NamespacedName) {
	c.mu.Lock()
	delete(c.contents, key)
	c.mu.Unlock()
}

// memoMapper remembers the REST mappings it returned. controller-runtime
// asks for one on every Get and List of a namespace-scoped cache (to learn
// whether the kind is namespaced); the dynamic mapper computes it anew
// each time, which cost a fifth of the operator's CPU when every token
// was refreshed at once. Keyport's kinds do not change scope while it runs.
type memoMapper struct {
	meta.RESTMapper
	known sync.Map // mappingKey → *meta.RESTMapping
}

type mappingKey struct {
	gk      schema.GroupKind
	version string
}

func (m *memoMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	if len(versions) > 1 {
		return m.RESTMapper.RESTMapping(gk, versions...)
	}
	key := mappingKey{gk: gk}
	if len(versions) == 1 {
		key.version = versions[0]
	}
	if v, ok := m.known.Load(key); ok {
		return v.(*meta.RESTMapping), nil
	}
	mapping, err := m.RESTMapper.RESTMapping(gk, versions...)
	if err != nil {
		return nil, err
	}
	m.known.Store(key, mapping)
	return mapping, nil
}

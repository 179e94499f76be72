package v1alpha1

// Types shared by more than one Keyport kind.
//
// Every reference to a Secret names a Secret in the referring object's own
// namespace: Keyport never reads across namespaces. The references carry a
// `namespace` field only so that a manifest copied from another operator
// (where references often take a namespace) is rejected with a message that
// explains why, instead of the API server silently pruning the field.

// SecretKeySelector selects one key of a Secret in the same namespace.
// +kubebuilder:validation:XValidation:rule="!has(self.__namespace__)",message="Secret references are same-namespace only: remove 'namespace' and create the Secret in this resource's namespace"
type SecretKeySelector struct {
	// Name of the Secret, in the same namespace as the referring resource.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Key within the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`

	// Namespace must not be set. Keyport reads Secrets only in the referring
	// resource's namespace; the field exists so that setting it fails loudly.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// HTTPHeader is one static header that Keyport adds to requests. Its value is
// either given inline (for values that are not secret) or read from a Secret
// (for values that are, such as an API subscription key).
// +kubebuilder:validation:XValidation:rule="has(self.value) != has(self.valueFrom)",message="set exactly one of value (inline) or valueFrom (a Secret key) for each header"
type HTTPHeader struct {
	// Name of the header, an HTTP token such as Ocp-Apim-Subscription-Key.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches(\"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$\")",message="header name must be an HTTP token: letters, digits and !#$%&'*+-.^_`|~ only, without spaces or a colon"
	Name string `json:"name"`

	// Value of the header, for values that are not secret.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="!self.contains('\\n') && !self.contains('\\r')",message="header value must not contain line breaks"
	Value *string `json:"value,omitempty"`

	// ValueFrom reads the header's value from a key of a Secret in the same
	// namespace. Use it for API keys such as a subscription key.
	// +optional
	ValueFrom *SecretKeySelector `json:"valueFrom,omitempty"`
}

// PlatformReference says which provider driver manages an object at a partner
// platform and which ApiClient's token authenticates the management calls.
// +kubebuilder:validation:XValidation:rule="self.managementURL.startsWith('https://') || (has(self.allowInsecureHTTP) && self.allowInsecureHTTP)",message="managementURL must start with https://; plain http:// is allowed only with allowInsecureHTTP: true, for local testing"
type PlatformReference struct {
	// Driver is the name of the provider driver, for example "generic-rest",
	// which Parameters fit to a platform's management API. Drivers register
	// themselves with the operator by name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Driver string `json:"driver"`

	// ApiClientName names the ApiClient, in the same namespace, whose current
	// token authenticates calls to the platform's management API.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ApiClientName string `json:"apiClientName"`

	// ManagementURL is the base URL of the platform's management API.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['https', 'http'] && url(self).getHost() != ''",message="managementURL must be an absolute URL such as https://api.example.com"
	ManagementURL string `json:"managementURL"`

	// AllowInsecureHTTP permits a plain http:// managementURL. Only for local
	// testing: tokens would cross the network unencrypted. Honoured only
	// when the operator runs with --outbound-tenant-opt-outs=insecure-http.
	// +optional
	AllowInsecureHTTP bool `json:"allowInsecureHTTP,omitempty"`

	// Parameters are driver-specific settings; each driver documents its own.
	// The generic REST driver ("generic-rest") describes a platform's
	// management API with them. All are optional; the defaults fit a
	// conventional JSON API under /management/v1 whose lists are one page.
	// Notification channels: channels.path, channels.itemPath (a template,
	// default {{.Path}}/{{.ID}}), channels.createMethod and updateMethod,
	// channels.body (a template over .Channel), channels.idPath (id),
	// channels.itemsPath (items), channels.nextPath (a link to the next
	// page) or channels.pageTokenPath with channels.pageTokenParam, and
	// field.<name> for where each channel field is in answers.
	// Certificates: certificates.path, certificates.createMethod,
	// certificates.body (a template over .PEM and .Thumbprint, default
	// {"pem":{{json .PEM}}}), certificates.idPath (id),
	// certificates.thumbprintPath (thumbprint: a registration with the
	// leaf's SHA-1 thumbprint is reused), and list parameters as for
	// channels. Ingestion channels: ingestionChannels.path,
	// ingestionChannels.itemPath, and ingestionChannels.idPath,
	// customerPath, messageTypePath and mediaTypePath (id, customer,
	// messageType, mediaType). Paths into JSON are dotted, such as data.id.
	// Each value is at most 8192 characters (some are templates).
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 8192)",message="each parameter must be at most 8192 characters"
	Parameters map[string]string `json:"parameters,omitempty"`
}

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IngestionChannelSpec declares one ingestion endpoint of one customer in one
// environment: https://{environment}/ingestion/{channel-id}. A service
// provider serving several customers declares one channel per customer.
//
// +kubebuilder:validation:XValidation:rule="has(self.url) != (has(self.baseURL) || has(self.channelID))",message="set either url (the full channel URL) or baseURL together with channelID, not both"
// +kubebuilder:validation:XValidation:rule="has(self.baseURL) == has(self.channelID)",message="baseURL and channelID go together: the channel URL is {baseURL}/ingestion/{channelID}"
// +kubebuilder:validation:XValidation:rule="(!has(self.url) && !has(self.baseURL)) || (has(self.url) ? self.url : self.baseURL).startsWith('https://') || (has(self.allowInsecureHTTP) && self.allowInsecureHTTP)",message="the channel URL must start with https://; plain http:// is allowed only with allowInsecureHTTP: true, for local testing"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.channelID) == has(self.channelID) && has(oldSelf.url) == has(self.url)",message="the channel's identity (channelID or url) is immutable: create a new IngestionChannel"
type IngestionChannelSpec struct {
	// ApiClientName names the ApiClient, in the same namespace, whose token
	// authorizes posts to this channel.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ApiClientName string `json:"apiClientName"`

	// Customer this channel belongs to. Platforms issue one channel per
	// customer, so it cannot change.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="customer is immutable: a channel belongs to one customer; create a new IngestionChannel"
	Customer string `json:"customer"`

	// BaseURL of the platform environment, for example
	// https://ingestion.uat.example.com. Used with channelID.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['https', 'http'] && url(self).getHost() != '' && url(self).getQuery().size() == 0",message="baseURL must be an absolute URL without a query, such as https://ingestion.example.com"
	BaseURL string `json:"baseURL,omitempty"`

	// ChannelID the platform assigned to this customer and environment.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][-_.A-Za-z0-9]*$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="channelID is immutable: create a new IngestionChannel for another channel"
	ChannelID string `json:"channelID,omitempty"`

	// URL is the full channel URL, for platforms whose URLs do not follow the
	// {baseURL}/ingestion/{channelID} shape.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['https', 'http'] && url(self).getHost() != ''",message="url must be an absolute URL such as https://ingestion.example.com/ingestion/abc123"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="url is immutable: create a new IngestionChannel for another channel"
	URL string `json:"url,omitempty"`

	// MessageType agreed with the platform for this channel.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	MessageType string `json:"messageType"`

	// MediaType of the messages. Default application/json.
	// +optional
	// +kubebuilder:default="application/json"
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-zA-Z0-9][-+.a-zA-Z0-9]*/[a-zA-Z0-9][-+.a-zA-Z0-9]*( *; *[-a-zA-Z0-9]+=[-a-zA-Z0-9.\"]+)*$')",message="mediaType must be a media type such as application/json or application/xml; charset=utf-8"
	MediaType string `json:"mediaType,omitempty"`

	// Environment labels the platform environment, such as uat or prd.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="environment is immutable: create a new IngestionChannel for another environment"
	Environment string `json:"environment,omitempty"`

	// AllowInsecureHTTP permits a plain http:// channel URL. Only for local
	// testing.
	// +optional
	AllowInsecureHTTP bool `json:"allowInsecureHTTP,omitempty"`

	// Platform verifies the channel through a provider driver, where the
	// platform offers an API for it.
	// +optional
	Platform *PlatformReference `json:"platform,omitempty"`

	// OutputSecretName of the Secret with url, content_type, message_type and
	// the current token. Defaults to <ingestionchannel-name>-channel.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	OutputSecretName string `json:"outputSecretName,omitempty"`
}

// IngestionChannelStatus is what the operator observed and did.
type IngestionChannelStatus struct {
	// ObservedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready and Degraded.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// URL is the resolved channel URL.
	// +optional
	URL string `json:"url,omitempty"`

	// OutputSecretName is the Secret a workload mounts to post to the channel.
	// +optional
	OutputSecretName string `json:"outputSecretName,omitempty"`

	// TokenExpiresAt is when the token in the output Secret expires.
	// +optional
	TokenExpiresAt *metav1.Time `json:"tokenExpiresAt,omitempty"`

	// LastVerifiedTime is when the platform last confirmed the channel.
	// +optional
	LastVerifiedTime *metav1.Time `json:"lastVerifiedTime,omitempty"`
}

// IngestionChannel is one customer's ingestion endpoint at a data-sharing
// platform, with a Secret that always holds its URL and a valid token.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ingch,categories=keyport
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Customer",type=string,JSONPath=`.spec.customer`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Token-Expires",type=string,JSONPath=`.status.tokenExpiresAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IngestionChannel struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   IngestionChannelSpec   `json:"spec"`
	Status IngestionChannelStatus `json:"status,omitempty"`
}

// IngestionChannelList is a list of IngestionChannels.
//
// +kubebuilder:object:root=true
type IngestionChannelList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IngestionChannel `json:"items"`
}

func init() {
	SchemeBuilder.Register(&IngestionChannel{}, &IngestionChannelList{})
}

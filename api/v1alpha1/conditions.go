package v1alpha1

// Condition types used by every Keyport kind. They are metav1.Conditions, so
// each carries the observedGeneration it was computed for: a client that has
// just written generation N waits for Ready with observedGeneration N.
const (
	// ConditionReady is True when the resource's output is usable: the token,
	// certificate or channel in its Secret is valid right now.
	ConditionReady = "Ready"

	// ConditionDegraded is True when something is wrong but the output is still
	// usable for a while, for example a refresh failed and the previous token
	// has not expired yet.
	ConditionDegraded = "Degraded"

	// ConditionExpiringSoon is True when a certificate is inside its warning
	// window before notAfter.
	ConditionExpiringSoon = "ExpiringSoon"
)

// Reasons explain a condition in words a person understands. They are
// PascalCase as the Kubernetes API conventions ask.
const (
	ReasonTokenRefreshed           = "TokenRefreshed"
	ReasonInvalidCredentials       = "InvalidCredentials"
	ReasonCredentialsNotFound      = "CredentialsNotFound"
	ReasonTokenEndpointUnreachable = "TokenEndpointUnreachable"
	ReasonTokenEndpointRejected    = "TokenEndpointRejected"
	ReasonRateLimited              = "RateLimited"
	ReasonMalformedTokenResponse   = "MalformedTokenResponse"
	ReasonUnknownTokenLifetime     = "UnknownTokenLifetime"
	ReasonPolicyInfeasible         = "PolicyInfeasible"
	ReasonTokenRevokedOnReissue    = "TokenRevokedOnReissue"
	ReasonCertificateNotReady      = "CertificateNotReady"
	ReasonSuspended                = "Suspended"

	ReasonCertificateIssued      = "CertificateIssued"
	ReasonCertificateImported    = "CertificateImported"
	ReasonWrongPassphrase        = "WrongPassphrase"
	ReasonBundleWithoutKey       = "BundleWithoutPrivateKey"
	ReasonCertificateExpired     = "CertificateExpired"
	ReasonCertificateExpiring    = "CertificateExpiring"
	ReasonRegistrationFailed     = "RegistrationFailed"
	ReasonSourceSecretNotFound   = "SourceSecretNotFound"
	ReasonInvalidCertificateData = "InvalidCertificateData"

	ReasonApiClientNotReady    = "ApiClientNotReady"
	ReasonChannelConflict      = "ChannelConflict"
	ReasonChannelVerified      = "ChannelVerified"
	ReasonChannelRegistered    = "ChannelRegistered"
	ReasonPlatformUnreachable  = "PlatformUnreachable"
	ReasonPlatformRejected     = "PlatformRejected"
	ReasonUnknownDriver        = "UnknownDriver"
	ReasonDeletionBlocked      = "DeletionBlocked"
	ReasonDriftRepaired        = "DriftRepaired"
	ReasonReconciling          = "Reconciling"
	ReasonChannelNotFound      = "ChannelNotFound"
	ReasonCredentialsGenerated = "CredentialsGenerated"

	// ReasonOutputSecretConflict: an ApiClient's output Secret name is
	// taken by a Secret that is not the ApiClient's.
	ReasonOutputSecretConflict = "OutputSecretConflict"
	// ReasonTokenLifetimeTooShort: the platform issues tokens too short to
	// be delivered; they are asked for at a minimum interval.
	ReasonTokenLifetimeTooShort = "TokenLifetimeTooShort"
)

// Labels and annotations on objects Keyport writes. Workloads and tooling may
// rely on them; keep them stable.
const (
	// LabelManagedBy marks every Secret that Keyport writes.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on Keyport's Secrets.
	ManagedByValue = "keyport"

	// LabelShard assigns a Keyport resource to the operator Deployment
	// started with --shard set to the label's value (see operator --shard).
	LabelShard = "keyport.dev/shard"

	// LabelApiClient marks an ApiClient's token Secret with the ApiClient's
	// name, so that channels using the ApiClient follow its rotations.
	LabelApiClient = "keyport.dev/apiclient"

	// LabelM2MCertificate marks an M2MCertificate's output Secret with the
	// M2MCertificate's name, so that consumers follow its rotations.
	LabelM2MCertificate = "keyport.dev/m2mcertificate"

	// AnnotationExpiresAt carries the token's or certificate's expiry (RFC 3339).
	AnnotationExpiresAt = "keyport.dev/expires-at"
	// AnnotationRefreshAt carries the time of the next planned refresh (RFC 3339).
	AnnotationRefreshAt = "keyport.dev/refresh-at"
	// AnnotationRefresh, set to any new value on an ApiClient, forces a refresh.
	AnnotationRefresh = "keyport.dev/refresh"
	// AnnotationReloaderIgnore stops rollout tools such as Reloader from
	// restarting pods each time a short-lived token rotates.
	AnnotationReloaderIgnore = "reloader.stakater.com/ignore"

	// FinalizerInUse is on an ApiClient, its token Secret and its CA bundle
	// Secret while a NotificationChannel calls its platform with them:
	// removing the channel's registration needs them. Deleted, they stay
	// until no NotificationChannel in their namespace uses them any more.
	FinalizerInUse = "keyport.dev/in-use"
)

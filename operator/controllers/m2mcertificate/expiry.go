package m2mcertificate

import (
	"fmt"
	"time"
)

// DefaultExpiryWarning is how long before notAfter Keyport starts warning.
const DefaultExpiryWarning = 30 * 24 * time.Hour

// expiryState is the pure answer to "how is this certificate doing?".
type expiryState struct {
	expired  bool
	expiring bool
	message  string
	// nextCheck is when the answer changes next (warning start or expiry).
	nextCheck time.Time
}

// assessExpiry judges a certificate's validity at now. Provider-issued
// certificates (not renewable by Keyport) say when a new bundle is needed.
func assessExpiry(now, notBefore, notAfter time.Time, warning time.Duration, renewable bool) expiryState {
	warnFrom := notAfter.Add(-warning)
	switch {
	case !now.Before(notAfter):
		return expiryState{expired: true, message: fmt.Sprintf("the certificate expired at %s", notAfter.UTC().Format(time.RFC3339))}
	case now.Before(notBefore):
		return expiryState{message: fmt.Sprintf("the certificate is valid only from %s", notBefore.UTC().Format(time.RFC3339)), nextCheck: notBefore}
	case !now.Before(warnFrom):
		msg := fmt.Sprintf("the certificate expires at %s", notAfter.UTC().Format(time.RFC3339))
		if renewable {
			msg += "; cert-manager renews it before then"
		} else {
			msg += "; Keyport cannot renew a provider-issued certificate: supply a new bundle before then"
		}
		return expiryState{expiring: true, message: msg, nextCheck: notAfter}
	}
	return expiryState{nextCheck: warnFrom}
}

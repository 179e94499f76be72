package plugin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

func newInspectCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Show what an ApiClient's token or an M2MCertificate's certificate holds, without printing any secret",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "token APICLIENT",
		Short: "Decode the header and claims of an ApiClient's token and print its times; never the token or its signature",
		Example: `  kubectl keyport inspect token port-api -n team-a
  kubectl keyport inspect token port-api -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.session()
			if err != nil {
				return err
			}
			r, err := s.inspectToken(ctx(cmd), strings.TrimPrefix(args[0], "apiclient/"))
			if err != nil {
				return err
			}
			return o.print(r, func(w io.Writer) { r.write(w, s.now) })
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "certificate M2MCERTIFICATE",
		Short:   "Subject, issuer, SANs, validity, SHA-1 thumbprint, SHA-256 fingerprint and chain of an M2MCertificate's certificate",
		Aliases: []string{"cert"},
		Example: `  kubectl keyport inspect certificate bank-client -n team-a
  kubectl keyport inspect cert bank-client -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.session()
			if err != nil {
				return err
			}
			r, err := s.inspectCertificate(ctx(cmd), strings.TrimPrefix(args[0], "m2mcertificate/"))
			if err != nil {
				return err
			}
			return o.print(r, func(w io.Writer) { r.write(w, s.now) })
		},
	})
	return cmd
}

// tokenReport is what `inspect token` prints. It holds the decoded header
// and claims of a JWT, never the token, its encoded parts or its signature.
type tokenReport struct {
	ApiClient string `json:"apiClient"`
	Namespace string `json:"namespace"`
	Secret    string `json:"secret"`
	TokenType string `json:"tokenType"`
	// Format is JWT (signed, claims readable), JWE (encrypted: header
	// only) or opaque (a reference only the platform can read).
	Format string         `json:"format"`
	Header map[string]any `json:"header,omitempty"`
	Claims map[string]any `json:"claims,omitempty"`
	Times  []fact         `json:"times"`
}

// Claims that are times (seconds since the epoch), in the order shown.
var timeClaims = []struct{ claim, label string }{
	{"iat", "issued at (iat)"},
	{"nbf", "not before (nbf)"},
	{"exp", "expires (exp)"},
	{"auth_time", "authenticated at (auth_time)"},
}

func (s *session) inspectToken(ctx context.Context, name string) (*tokenReport, error) {
	obj, err := s.get(ctx, kinds[0], name)
	if err != nil {
		return nil, err
	}
	ac := obj.(*keyportv1.ApiClient)
	r := &tokenReport{ApiClient: name, Namespace: s.namespace, Secret: apiClientSecretName(ac), Times: []fact{}}
	sec := &corev1.Secret{}
	if err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: r.Secret}, sec); err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("ApiClient %q has no token yet: its Secret %q does not exist (see `kubectl keyport status apiclient %s`)", name, r.Secret, name)
		}
		return nil, fmt.Errorf("read the token Secret %q: %w", r.Secret, err)
	}
	tok, err := tokensecret.Parse(sec.Data)
	if err != nil {
		// Parse's errors name keys, never values.
		return nil, fmt.Errorf("the Secret %q is not a readable token Secret: %w", r.Secret, err)
	}
	r.TokenType = tok.TokenType
	r.Format, r.Header, r.Claims = decodeToken(tok.AccessToken)
	for _, tc := range timeClaims {
		if t, ok := claimTime(r.Claims[tc.claim]); ok {
			r.Times = append(r.Times, fact{Label: tc.label, Time: &t, Source: "claim"})
		}
	}
	r.Times = appendTime(r.Times, "obtained", sec.Annotations[annotationIssuedAt], "Secret annotation "+annotationIssuedAt)
	r.Times = appendTime(r.Times, "expires", sec.Annotations[keyportv1.AnnotationExpiresAt], "Secret annotation "+keyportv1.AnnotationExpiresAt)
	r.Times = appendTime(r.Times, "next refresh", sec.Annotations[keyportv1.AnnotationRefreshAt], "Secret annotation "+keyportv1.AnnotationRefreshAt)
	return r, nil
}

// decodeToken reads the header and claims of a compact JWS, the header of
// a compact JWE, and nothing of anything else. Nothing is verified: the
// point is to show what the platform put in the token.
func decodeToken(tok string) (format string, header, claims map[string]any) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 && len(parts) != 5 {
		return "opaque", nil, nil
	}
	header, ok := decodeSegment(parts[0])
	if !ok {
		return "opaque", nil, nil
	}
	if len(parts) == 5 {
		return "JWE", header, nil
	}
	claims, ok = decodeSegment(parts[1])
	if !ok {
		return "opaque", nil, nil
	}
	return "JWT", header, claims
}

func decodeSegment(seg string) (map[string]any, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

func claimTime(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f <= 0 || f > 1<<36 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0).UTC(), true
}

func (r *tokenReport) write(w io.Writer, now time.Time) {
	fmt.Fprintf(w, "Token of ApiClient %s/%s (Secret %s)\n", r.Namespace, r.ApiClient, r.Secret)
	fmt.Fprintf(w, "  type:    %s\n", r.TokenType)
	switch r.Format {
	case "JWT":
		fmt.Fprintln(w, "  format:  JWT (signature not verified and not shown)")
	case "JWE":
		fmt.Fprintln(w, "  format:  JWE (encrypted: only its header is readable)")
	default:
		fmt.Fprintln(w, "  format:  opaque (not a JWT: only the platform can read it; its times come from the Secret's annotations)")
	}
	writeMap(w, "Header", r.Header, now)
	writeMap(w, "Claims", r.Claims, now)
	fmt.Fprintln(w, "\nTimes:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range r.Times {
		fmt.Fprintf(tw, "  %s:\t%s\t(%s)\n", f.Label, when(*f.Time, now), f.Source)
	}
	_ = tw.Flush()
}

func writeMap(w io.Writer, title string, m map[string]any, now time.Time) {
	if m == nil {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		var text string
		switch x := v.(type) {
		case string:
			text = x
		default:
			b, _ := json.Marshal(x)
			text = string(b)
		}
		if title == "Claims" {
			for _, tc := range timeClaims {
				if t, ok := claimTime(v); ok && tc.claim == k {
					text += "  = " + when(t, now)
				}
			}
		}
		fmt.Fprintf(tw, "  %s:\t%s\n", k, text)
	}
	_ = tw.Flush()
}

// certReport is what `inspect certificate` prints: public certificate
// facts only. The Secret's private key is never read into the report.
type certReport struct {
	M2MCertificate string     `json:"m2mCertificate"`
	Namespace      string     `json:"namespace"`
	Secret         string     `json:"secret"`
	Leaf           certInfo   `json:"leaf"`
	Chain          []certInfo `json:"chain"`
	CA             []certInfo `json:"ca"`
	// Verified says whether the leaf and chain verify against ca.crt (empty
	// when the Secret has no ca.crt).
	Verified string `json:"verified,omitempty"`
	// StatusThumbprint is the thumbprint the M2MCertificate's status shows,
	// when it differs from the Secret's (the status lags a rotation).
	StatusThumbprint string `json:"statusThumbprint,omitempty"`
}

type certInfo struct {
	Subject           string    `json:"subject"`
	Issuer            string    `json:"issuer"`
	SerialNumber      string    `json:"serialNumber"`
	NotBefore         time.Time `json:"notBefore"`
	NotAfter          time.Time `json:"notAfter"`
	DNSNames          []string  `json:"dnsNames,omitempty"`
	IPAddresses       []string  `json:"ipAddresses,omitempty"`
	URIs              []string  `json:"uris,omitempty"`
	EmailAddresses    []string  `json:"emailAddresses,omitempty"`
	PublicKey         string    `json:"publicKey"`
	IsCA              bool      `json:"isCA"`
	ExtKeyUsage       []string  `json:"extKeyUsage,omitempty"`
	SHA1Thumbprint    string    `json:"sha1Thumbprint"`
	SHA256Fingerprint string    `json:"sha256Fingerprint"`
	// X5tS256 is the base64url SHA-256 of the certificate, as private_key_jwt
	// assertions carry it in their x5t#S256 header.
	X5tS256 string `json:"x5t#S256"`
}

func (s *session) inspectCertificate(ctx context.Context, name string) (*certReport, error) {
	obj, err := s.get(ctx, kinds[1], name)
	if err != nil {
		return nil, err
	}
	m := obj.(*keyportv1.M2MCertificate)
	r := &certReport{M2MCertificate: name, Namespace: s.namespace, Secret: m2mCertificateSecretName(m), Chain: []certInfo{}, CA: []certInfo{}}
	sec := &corev1.Secret{}
	if err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: r.Secret}, sec); err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("M2MCertificate %q has no certificate yet: its Secret %q does not exist (see `kubectl keyport status m2mcert %s`)", name, r.Secret, name)
		}
		return nil, fmt.Errorf("read the certificate Secret %q: %w", r.Secret, err)
	}
	chain, err := certs.DecodeCertificatesPEM(sec.Data[corev1.TLSCertKey])
	if err != nil {
		return nil, fmt.Errorf("the Secret %q has no readable %s: %w", r.Secret, corev1.TLSCertKey, err)
	}
	r.Leaf = describeCert(chain[0])
	for _, c := range chain[1:] {
		r.Chain = append(r.Chain, describeCert(c))
	}
	var anchors []*x509.Certificate
	if len(sec.Data["ca.crt"]) > 0 {
		anchors, err = certs.DecodeCertificatesPEM(sec.Data["ca.crt"])
		if err != nil {
			return nil, fmt.Errorf("the Secret %q has an unreadable ca.crt: %w", r.Secret, err)
		}
		for _, c := range anchors {
			r.CA = append(r.CA, describeCert(c))
		}
		r.Verified = verify(chain, anchors, s.now)
	}
	if st := m.Status.SHA1Thumbprint; st != "" && st != r.Leaf.SHA1Thumbprint {
		r.StatusThumbprint = st
	}
	return r, nil
}

func describeCert(c *x509.Certificate) certInfo {
	d := certs.Describe(c)
	x5t := sha256.Sum256(c.Raw)
	info := certInfo{Subject: d.Subject, Issuer: d.Issuer, SerialNumber: d.SerialNumber,
		NotBefore: d.NotBefore.UTC(), NotAfter: d.NotAfter.UTC(), DNSNames: c.DNSNames, EmailAddresses: c.EmailAddresses,
		PublicKey: publicKeyName(c), IsCA: c.IsCA, SHA1Thumbprint: d.SHA1Thumbprint, SHA256Fingerprint: d.SHA256Fingerprint,
		X5tS256: base64.RawURLEncoding.EncodeToString(x5t[:])}
	for _, ip := range c.IPAddresses {
		info.IPAddresses = append(info.IPAddresses, ip.String())
	}
	for _, u := range c.URIs {
		info.URIs = append(info.URIs, u.String())
	}
	for _, u := range c.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageClientAuth:
			info.ExtKeyUsage = append(info.ExtKeyUsage, "client auth")
		case x509.ExtKeyUsageServerAuth:
			info.ExtKeyUsage = append(info.ExtKeyUsage, "server auth")
		default:
			info.ExtKeyUsage = append(info.ExtKeyUsage, fmt.Sprintf("usage %d", u))
		}
	}
	return info
}

func publicKeyName(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}

// verify checks the leaf against the Secret's own trust anchors, as a
// server holding ca.crt would, for client authentication.
func verify(chain, anchors []*x509.Certificate, now time.Time) string {
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range anchors {
		roots.AddCert(c)
	}
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return "no: " + err.Error()
	}
	return "yes"
}

func (r *certReport) write(w io.Writer, now time.Time) {
	fmt.Fprintf(w, "Certificate of M2MCertificate %s/%s (Secret %s)\n", r.Namespace, r.M2MCertificate, r.Secret)
	writeCert(w, "  ", r.Leaf, now)
	if r.StatusThumbprint != "" {
		fmt.Fprintf(w, "  note: the status still shows thumbprint %s (it lags a rotation)\n", r.StatusThumbprint)
	}
	fmt.Fprintf(w, "\nChain (%s after the leaf):\n", plural(len(r.Chain), "intermediate"))
	for i, c := range r.Chain {
		fmt.Fprintf(w, "  [%d]\n", i+1)
		writeCert(w, "    ", c, now)
	}
	if len(r.CA) > 0 {
		fmt.Fprintf(w, "\nTrust anchors (ca.crt, %s):\n", plural(len(r.CA), "certificate"))
		for i, c := range r.CA {
			fmt.Fprintf(w, "  [%d]\n", i+1)
			writeCert(w, "    ", c, now)
		}
		fmt.Fprintf(w, "\nLeaf verifies against ca.crt: %s\n", r.Verified)
	}
}

func writeCert(w io.Writer, indent string, c certInfo, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(tw, "%s%s:\t%s\n", indent, k, v) }
	line("subject", c.Subject)
	line("issuer", c.Issuer)
	line("serial number", c.SerialNumber)
	line("not before", when(c.NotBefore, now))
	line("not after", when(c.NotAfter, now))
	if sans := sanList(c); sans != "" {
		line("SANs", sans)
	}
	line("public key", c.PublicKey)
	if c.IsCA {
		line("CA", "yes")
	}
	if len(c.ExtKeyUsage) > 0 {
		line("extended key usage", strings.Join(c.ExtKeyUsage, ", "))
	}
	line("SHA-1 thumbprint", c.SHA1Thumbprint)
	line("SHA-256 fingerprint", c.SHA256Fingerprint)
	line("x5t#S256", c.X5tS256)
	_ = tw.Flush()
}

func sanList(c certInfo) string {
	var out []string
	for _, n := range c.DNSNames {
		out = append(out, "DNS:"+n)
	}
	for _, n := range c.IPAddresses {
		out = append(out, "IP:"+n)
	}
	for _, n := range c.URIs {
		out = append(out, "URI:"+n)
	}
	for _, n := range c.EmailAddresses {
		out = append(out, "email:"+n)
	}
	return strings.Join(out, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

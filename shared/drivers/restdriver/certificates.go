package restdriver

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/drivers"
	"github.com/keyport-dev/keyport/shared/safetemplate"
)

var _ drivers.CertificateRegistrar = Driver{}

// defaultCertificateBody sends the certificate chain, leaf first.
const defaultCertificateBody = `{"pem":{{json .PEM}}}`

// certConfig is the driver's reading of the certificates.* parameters.
type certConfig struct {
	path, createMethod, idPath, thumbprintPath string
	list                                       pager
	body                                       *safetemplate.Template
}

func configureCertificates(params map[string]string) (*certConfig, error) {
	path, err := collectionPath(params, "certificates", "/management/v1/certificates")
	if err != nil {
		return nil, err
	}
	list, err := newPager(params, "certificates", path)
	if err != nil {
		return nil, err
	}
	body, err := safetemplate.Parse("body", param(params, "certificates.body", defaultCertificateBody),
		map[string]safetemplate.Func{"json": jsonString})
	if err != nil {
		return nil, fmt.Errorf("parameter certificates.body is not a valid template: %w", err)
	}
	return &certConfig{
		path:           path,
		createMethod:   param(params, "certificates.createMethod", http.MethodPost),
		idPath:         param(params, "certificates.idPath", "id"),
		thumbprintPath: param(params, "certificates.thumbprintPath", "thumbprint"),
		list:           list,
		body:           body,
	}, nil
}

// RegisterCertificate implements drivers.CertificateRegistrar: it looks
// for the leaf's thumbprint in the platform's list of registrations, so a
// certificate is registered once however often it is reconciled, and
// registers it when it is not there.
func (Driver) RegisterCertificate(ctx context.Context, conn drivers.Conn, certPEM []byte) (string, error) {
	c, err := configureCertificates(conn.Parameters)
	if err != nil {
		return "", err
	}
	chain, err := certs.DecodeCertificatesPEM(certPEM)
	if err != nil {
		return "", err
	}
	want := certs.Thumbprint(chain[0])
	var found string
	err = c.list.each(ctx, conn, func(item any) bool {
		if sameThumbprint(asString(lookup(item, c.thumbprintPath)), want) {
			found = asString(lookup(item, c.idPath))
		}
		return found != ""
	})
	if err != nil || found != "" {
		return found, err
	}
	body, err := renderBody(c.body, "certificates", map[string]string{"PEM": string(certPEM), "Thumbprint": want})
	if err != nil {
		return "", err
	}
	return create(ctx, conn, c.createMethod, c.path, body, "certificates", c.idPath)
}

// sameThumbprint compares a platform's spelling of a SHA-1 thumbprint with
// Keyport's (upper-case hex): platforms write them in either case, some
// with colons between the bytes.
func sameThumbprint(theirs, ours string) bool {
	return theirs != "" && strings.EqualFold(strings.ReplaceAll(theirs, ":", ""), ours)
}

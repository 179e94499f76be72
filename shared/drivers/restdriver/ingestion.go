package restdriver

import (
	"context"
	"net/http"

	"github.com/keyport-dev/keyport/shared/drivers"
	"github.com/keyport-dev/keyport/shared/safetemplate"
)

var _ drivers.IngestionChannels = Driver{}

// ingestionConfig is the driver's reading of the ingestionChannels.*
// parameters.
type ingestionConfig struct {
	path                                                 string
	itemPath                                             *safetemplate.Template
	idPath, customerPath, messageTypePath, mediaTypePath string
}

func configureIngestion(params map[string]string) (*ingestionConfig, error) {
	path, err := collectionPath(params, "ingestionChannels", "/management/v1/ingestion-channels")
	if err != nil {
		return nil, err
	}
	itemPath, err := parseItemPath(params, "ingestionChannels")
	if err != nil {
		return nil, err
	}
	return &ingestionConfig{
		path:            path,
		itemPath:        itemPath,
		idPath:          param(params, "ingestionChannels.idPath", "id"),
		customerPath:    param(params, "ingestionChannels.customerPath", "customer"),
		messageTypePath: param(params, "ingestionChannels.messageTypePath", "messageType"),
		mediaTypePath:   param(params, "ingestionChannels.mediaTypePath", "mediaType"),
	}, nil
}

// GetIngestionChannel implements drivers.IngestionChannels. A field the
// answer does not have at its path is empty, and the controller checks
// only what the platform says.
func (Driver) GetIngestionChannel(ctx context.Context, conn drivers.Conn, id string) (*drivers.IngestionChannel, error) {
	c, err := configureIngestion(conn.Parameters)
	if err != nil {
		return nil, err
	}
	path, err := renderItem(c.itemPath, "ingestionChannels", c.path, id)
	if err != nil {
		return nil, err
	}
	var doc any
	if err := conn.Do(ctx, http.MethodGet, path, nil, &doc); err != nil {
		return nil, err
	}
	ch := &drivers.IngestionChannel{
		ID:          asString(lookup(doc, c.idPath)),
		Customer:    asString(lookup(doc, c.customerPath)),
		MessageType: asString(lookup(doc, c.messageTypePath)),
		MediaType:   asString(lookup(doc, c.mediaTypePath)),
	}
	if ch.ID == "" {
		ch.ID = id
	}
	return ch, nil
}

package sandboxdriver

import (
	"context"
	"net/url"

	"github.com/keyport-dev/keyport/shared/drivers"
)

// GetIngestionChannel implements drivers.IngestionChannels.
func (Driver) GetIngestionChannel(ctx context.Context, c drivers.Conn, id string) (*drivers.IngestionChannel, error) {
	var w struct {
		ID          string `json:"id"`
		Customer    string `json:"customer"`
		MessageType string `json:"messageType"`
		MediaType   string `json:"mediaType"`
	}
	if err := c.Do(ctx, "GET", "/management/v1/ingestion-channels/"+url.PathEscape(id), nil, &w); err != nil {
		return nil, err
	}
	return &drivers.IngestionChannel{ID: w.ID, Customer: w.Customer, MessageType: w.MessageType, MediaType: w.MediaType}, nil
}

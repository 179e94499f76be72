package sandboxdriver

import (
	"context"
	"errors"
	"net/url"

	"github.com/keyport-dev/keyport/shared/drivers"
)

// wireChannel is the sandbox's JSON form of a notification channel.
type wireChannel struct {
	ID             string            `json:"id,omitempty"`
	Name           string            `json:"name"`
	ChannelType    string            `json:"channelType"`
	Method         string            `json:"method"`
	WebhookURL     string            `json:"webhookURL"`
	Headers        map[string]string `json:"headers,omitempty"`
	EventTypes     []string          `json:"eventTypes,omitempty"`
	Authentication wireAuth          `json:"authentication"`
}

type wireAuth struct {
	Type         string            `json:"type"`
	TokenURL     string            `json:"tokenURL,omitempty"`
	ClientID     string            `json:"clientID,omitempty"`
	ClientSecret string            `json:"clientSecret,omitempty"`
	Username     string            `json:"username,omitempty"`
	Password     string            `json:"password,omitempty"`
	Scopes       []string          `json:"scopes,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
}

func toWire(ch drivers.NotificationChannel) wireChannel {
	a := ch.Auth
	return wireChannel{ID: ch.ID, Name: ch.Name, ChannelType: ch.ChannelType, Method: ch.Method, WebhookURL: ch.WebhookURL,
		Headers: ch.Headers, EventTypes: ch.EventTypes, Authentication: wireAuth{Type: a.Type, TokenURL: a.TokenURL,
			ClientID: a.ClientID, ClientSecret: a.ClientSecret, Username: a.Username, Password: a.Password, Scopes: a.Scopes, Headers: a.Headers}}
}

func fromWire(w wireChannel) drivers.NotificationChannel {
	a := w.Authentication
	return drivers.NotificationChannel{ID: w.ID, Name: w.Name, ChannelType: w.ChannelType, Method: w.Method, WebhookURL: w.WebhookURL,
		Headers: w.Headers, EventTypes: w.EventTypes, Auth: drivers.WebhookAuth{Type: a.Type, TokenURL: a.TokenURL,
			ClientID: a.ClientID, ClientSecret: a.ClientSecret, Username: a.Username, Password: a.Password, Scopes: a.Scopes, Headers: a.Headers}}
}

const channelsPath = "/management/v1/notification-channels"

// ListNotificationChannels implements drivers.NotificationChannels.
func (Driver) ListNotificationChannels(ctx context.Context, c drivers.Conn) ([]drivers.NotificationChannel, error) {
	var list struct {
		Items []wireChannel `json:"items"`
	}
	if err := call(ctx, c, "GET", channelsPath, nil, &list); err != nil {
		return nil, err
	}
	out := make([]drivers.NotificationChannel, 0, len(list.Items))
	for _, w := range list.Items {
		out = append(out, fromWire(w))
	}
	return out, nil
}

// GetNotificationChannel implements drivers.NotificationChannels.
func (Driver) GetNotificationChannel(ctx context.Context, c drivers.Conn, id string) (*drivers.NotificationChannel, error) {
	var w wireChannel
	if err := call(ctx, c, "GET", channelsPath+"/"+url.PathEscape(id), nil, &w); err != nil {
		return nil, notFound(err)
	}
	ch := fromWire(w)
	return &ch, nil
}

// CreateNotificationChannel implements drivers.NotificationChannels.
func (Driver) CreateNotificationChannel(ctx context.Context, c drivers.Conn, ch drivers.NotificationChannel) (string, error) {
	var created wireChannel
	if err := call(ctx, c, "POST", channelsPath, toWire(ch), &created); err != nil {
		return "", err
	}
	return created.ID, nil
}

// UpdateNotificationChannel implements drivers.NotificationChannels.
func (Driver) UpdateNotificationChannel(ctx context.Context, c drivers.Conn, ch drivers.NotificationChannel) error {
	return notFound(call(ctx, c, "PUT", channelsPath+"/"+url.PathEscape(ch.ID), toWire(ch), nil))
}

// DeleteNotificationChannel implements drivers.NotificationChannels.
func (Driver) DeleteNotificationChannel(ctx context.Context, c drivers.Conn, id string) error {
	err := notFound(call(ctx, c, "DELETE", channelsPath+"/"+url.PathEscape(id), nil, nil))
	if errors.Is(err, drivers.ErrNotFound) {
		return nil
	}
	return err
}

// GetIngestionChannel implements drivers.IngestionChannels.
func (Driver) GetIngestionChannel(ctx context.Context, c drivers.Conn, id string) (*drivers.IngestionChannel, error) {
	var w struct {
		ID          string `json:"id"`
		Customer    string `json:"customer"`
		MessageType string `json:"messageType"`
		MediaType   string `json:"mediaType"`
	}
	if err := call(ctx, c, "GET", "/management/v1/ingestion-channels/"+url.PathEscape(id), nil, &w); err != nil {
		return nil, notFound(err)
	}
	return &drivers.IngestionChannel{ID: w.ID, Customer: w.Customer, MessageType: w.MessageType, MediaType: w.MediaType}, nil
}

// notFound turns an HTTP 404 into drivers.ErrNotFound.
func notFound(err error) error {
	var he *httpError
	if errors.As(err, &he) && he.status == 404 {
		return drivers.ErrNotFound
	}
	return err
}

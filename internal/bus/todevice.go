package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// To-device messages from other servers (docs/decisions/0012): the
// federation API checks each m.direct_to_device EDU and puts it on
// FederationToDeviceSubject, with the origin and message_id as the
// message id (so a retried transaction is dropped by the stream); the
// sync API processes share one durable consumer and store the messages
// in the devices' inboxes, deduplicated once more by origin and
// message_id in the database. The stream is defined here, beside the
// others, and made sure of by both sides when they start.
const (
	FederationToDeviceStream  = "FEDERATION_TO_DEVICE"
	FederationToDeviceSubject = "rohrpost.federationapi.to_device_in"
)

// EnsureFederationToDeviceStream creates or updates the stream. Messages
// wait for a sync API for a week; the inbox keeps them after that.
func (c *Conn) EnsureFederationToDeviceStream(ctx context.Context) error {
	_, err := c.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       FederationToDeviceStream,
		Replicas:   c.replicas,
		Subjects:   []string{FederationToDeviceSubject},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.WorkQueuePolicy,
		MaxAge:     7 * 24 * time.Hour,
		Duplicates: 10 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", FederationToDeviceStream, err)
	}
	return nil
}

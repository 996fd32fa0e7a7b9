import { defineModule } from '@strata/base';
import { Delivery, DeliveryAttempt, EventAggregation, EventReceipt, StoredEvent, Subscription, WebhookEndpoint } from './entities';
import { CreateEventsSchema1796300000000 } from './migrations/1796300000000-create-events-schema';

/**
 * Schema `events`: a webhook inbox (GitHub, Linear, Slack) with signature
 * checks and delivery-id deduplication that outlives retention, partitioned
 * events, aggregations, subscriptions and an outbox with retries.
 */
export const eventsModule = defineModule({
  name: 'events',
  entities: [WebhookEndpoint, StoredEvent, EventReceipt, EventAggregation, Subscription, Delivery, DeliveryAttempt],
  migrations: [CreateEventsSchema1796300000000],
});

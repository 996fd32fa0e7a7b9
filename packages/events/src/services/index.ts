export * from './events.service';
export * from './webhook-endpoints.service';
export * from './subscriptions.service';
export * from './outbox.service';

export * from './events.service';
export * from './webhook-endpoints.service';

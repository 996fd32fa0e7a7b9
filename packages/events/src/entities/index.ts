export * from './webhook-endpoint.entity';
export * from './stored-event.entity';
export * from './event-receipt.entity';
export * from './event-aggregation.entity';
export * from './subscription.entity';
export * from './delivery.entity';
export * from './delivery-attempt.entity';

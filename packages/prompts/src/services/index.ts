export * from './templates.service';
export * from './versions.service';
export * from './labels.service';
export * from './render.service';
export { canonicalJson } from './support';
export * from './usage';
export * from './prices.service';
export * from './ledger.service';
export * from './rollouts.service';

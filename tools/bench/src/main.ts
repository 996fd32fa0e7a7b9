#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { Result, Scenario, Target, printTable } from './harness';
import { claimThroughput } from './scenarios/claim-throughput';
import { batchIngest, outboxDrain, receiverEndToEnd } from './scenarios/events';
import { instantiateWorkflow } from './scenarios/instantiate-workflow';
import { migrateBase } from './scenarios/migrate-base';
import { pointInTime } from './scenarios/point-in-time';
import { predictionIngest } from './scenarios/prediction-ingest';

/** Every scenario; module issues add theirs here. */
const scenarios: Scenario[] = [
  migrateBase,
  claimThroughput,
  instantiateWorkflow,
  receiverEndToEnd,
  batchIngest,
  outboxDrain,
  predictionIngest,
  pointInTime,
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '5' }, only: { type: 'string' }, target: { type: 'string' }, json: { type: 'boolean' } },
  });
  const runs = Number(values.runs);
  const targets: Target[] = values.target ? [values.target as Target] : ['server', 'embedded'];
  const results: Result[] = [];
  for (const scenario of scenarios.filter((s) => !values.only || s.name.includes(values.only))) {
    for (const target of targets) {
      process.stderr.write(`  … ${scenario.name} on ${target} (${runs} runs)\n`);
      results.push(...[await scenario.run(target, runs)].flat());
    }
  }
  console.log(values.json ? JSON.stringify(results, null, 2) : printTable(results));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);

#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { baseModule, createDataSource, openDatabase } from '@strata/base';
import { eventsModule } from './events.module';
import { WebhookReceiver } from './receiver';
import { DeliveryWorker } from './worker';

const USAGE = `usage: strata-webhooks serve [--port 8080] [--host 127.0.0.1] [--organization <id>]... [--no-worker]

Receives webhooks at POST /webhooks/<endpoint token> and runs the delivery
worker for the outbox (DATABASE_URL, or the embedded database in
STRATA_DATA_DIR; migrate it first). The worker serves the organizations given,
or every organization the database role can read.`;

/** `strata-webhooks serve`: the receiver and the outbox's delivery worker on their own, until the composer's `strata serve` mounts them. */
async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: 'string', default: '8080' },
        host: { type: 'string', default: '127.0.0.1' },
        organization: { type: 'string', multiple: true },
        'no-worker': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    process.stderr.write(`strata-webhooks: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const port = Number(values.port);
  if (positionals.join(' ') !== 'serve' || !Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const database = await openDatabase();
  const dataSource = createDataSource({ url: database.url, poolSize: database.poolSize, modules: [baseModule, eventsModule] });
  await dataSource.initialize();
  const given = values.organization ?? [];
  const worker = values['no-worker']
    ? undefined
    : new DeliveryWorker(dataSource, {
        organizations:
          given.length > 0
            ? given
            : async () => (await dataSource.query('SELECT id FROM base.organizations')).map((o: { id: string }) => o.id),
        // The embedded database cannot notify another client; the receiver next to the worker wakes it instead.
        listen: database.kind === 'server',
      });
  const receiver = new WebhookReceiver(dataSource, {
    onIngested: (organizationId, result) => {
      if (result.deliveries > 0) worker?.wake(organizationId);
    },
  });
  await worker?.start();
  const bound = await receiver.listen(port, values.host);
  process.stdout.write(
    `strata-webhooks: receiving on http://${values.host}:${bound}/webhooks/<endpoint token> (${database.description})\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await receiver.close();
  await worker?.stop();
  await dataSource.destroy();
  await database.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`strata-webhooks: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);

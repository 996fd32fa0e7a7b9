#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { baseModule, createDataSource, openDatabase } from '@strata/base';
import { eventsModule } from './events.module';
import { WebhookReceiver } from './receiver';

const USAGE = `usage: strata-webhooks serve [--port 8080] [--host 127.0.0.1]

Receives webhooks at POST /webhooks/<endpoint token> (DATABASE_URL, or the
embedded database in STRATA_DATA_DIR; migrate it first).`;

/** `strata-webhooks serve`: the receiver on its own, until the composer's `strata serve` mounts it. */
async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' }, help: { type: 'boolean' } },
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
  const receiver = new WebhookReceiver(dataSource);
  const bound = await receiver.listen(port, values.host);
  process.stdout.write(
    `strata-webhooks: receiving on http://${values.host}:${bound}/webhooks/<endpoint token> (${database.description})\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await receiver.close();
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

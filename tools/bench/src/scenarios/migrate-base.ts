import { Client } from 'pg';
import { AbstractLogger, LogLevel, LogMessage } from 'typeorm';
import { MigrationRunner, baseModule } from '@strata/base';
import { Scenario, median, scratch, timed } from '../harness';

/** Records every statement the runner sends, so the limit can replay exactly the same SQL. */
class RecordingLogger extends AbstractLogger {
  readonly statements: { sql: string; params?: unknown[] }[] = [];
  override logQuery(query: string, parameters?: unknown[]): void {
    this.statements.push({ sql: query, params: parameters });
  }
  protected writeLog(_level: LogLevel, _message: LogMessage | LogMessage[]): void {
    // recorded in logQuery; nothing to print
  }
}

/**
 * Migrate base from empty. The limit: the very statements the runner sent (DDL,
 * history rows, locks, transactions), replayed through one raw `pg` connection —
 * what any runner must at least pay for the same work on the same database.
 */
export const migrateBase: Scenario = {
  name: 'migrate base from empty',
  async run(target, runs) {
    const measured: number[] = [];
    const limit: number[] = [];
    for (let i = 0; i < runs; i++) {
      const recorder = new RecordingLogger();
      const a = await scratch(target);
      try {
        measured.push(await timed(async () => void (await new MigrationRunner({ url: a.url }, { logger: recorder }).up([baseModule]))));
      } finally {
        await a.dispose();
      }
      const b = await scratch(target);
      try {
        const client = new Client({ connectionString: b.url });
        await client.connect();
        limit.push(
          await timed(async () => {
            for (const { sql, params } of recorder.statements) await client.query(sql, params as unknown[]);
          }),
        );
        await client.end();
      } finally {
        await b.dispose();
      }
    }
    const measuredMs = median(measured);
    const limitMs = median(limit);
    return { scenario: this.name, target, runs, limit: 'same SQL, raw pg', measuredMs, limitMs, ratio: limitMs / measuredMs };
  },
};

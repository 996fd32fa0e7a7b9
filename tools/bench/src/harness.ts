import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { startEmbeddedDatabase } from '@strata/base';

/**
 * A scratch database for one measurement: a new database on the server, or a new
 * in-memory PGlite. Creation and disposal are outside the measured time.
 */
export interface Scratch {
  url: string;
  dispose(): Promise<void>;
}

export type Target = 'server' | 'embedded';

export const serverUrl = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export async function scratch(target: Target): Promise<Scratch> {
  if (target === 'embedded') {
    const db = await startEmbeddedDatabase({ dataDir: 'memory://' });
    return { url: db.url, dispose: () => db.close() };
  }
  const name = `strata_bench_${randomBytes(5).toString('hex')}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    dispose: async () => {
      const c = new Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function timed(work: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** One line of the results table: the measured path against the limit measured in the same run. */
export interface Result {
  scenario: string;
  target: Target;
  runs: number;
  /** What the limit is, e.g. "same SQL through raw pg". */
  limit: string;
  measuredMs: number;
  limitMs: number;
  /** limit / measured: 1.0 = as fast as the limit (higher is better). */
  ratio: number;
  note?: string;
}

export interface Scenario {
  name: string;
  /** One row, or one row per variant the scenario measures (e.g. per worker count). */
  run(target: Target, runs: number): Promise<Result | Result[]>;
}

export function printTable(results: Result[]): string {
  const header = ['scenario', 'database', 'runs', 'strata ms (median)', 'limit ms (median)', 'limit', 'ratio limit/strata'];
  const rows = results.map((r) => [
    r.scenario,
    r.target,
    String(r.runs),
    r.measuredMs.toFixed(1),
    r.limitMs.toFixed(1),
    r.limit,
    r.ratio.toFixed(2) + (r.note ? `  ${r.note}` : ''),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

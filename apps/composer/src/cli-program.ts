import { Command, CommanderError, Option } from 'commander';
import {
  databaseHealth,
  databaseIntegrity,
  formatHealth,
  formatIntegrity,
  formatMaintenance,
  formatMigrate,
  formatStatus,
  maintainPartitions,
  migrateModules,
  moduleStatus,
  requirementClosure,
  revertModule,
} from '@strata/base';
import { installedModules } from './modules';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIo: CliIo = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) };

/**
 * The `strata` CLI. Human output by default, `--json` for machines; progress on
 * stderr; exit codes 0 ok, 1 failure, 2 bad usage; errors as one line (the stack
 * only with --verbose).
 */
export function buildCli(io: CliIo = defaultIo): Command {
  const program = new Command('strata')
    .description('Strata: migrate, inspect and maintain the Strata database (DATABASE_URL, or embedded PGlite in STRATA_DATA_DIR)')
    .addOption(new Option('--json', 'machine-readable JSON output'))
    .addOption(new Option('--verbose', 'show stack traces on errors'))
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  const json = () => Boolean(program.opts().json);
  const progress = (line: string) => {
    if (!json()) io.err(`  … ${line}`);
  };
  const print = (human: string, data: unknown) => io.out(json() ? JSON.stringify(data, null, 2) : human);
  const modulesFor = (name?: string) => {
    if (!name) return installedModules;
    const module = installedModules.find((m) => m.name === name);
    if (!module) throw new UsageError(`unknown module "${name}" (installed: ${installedModules.map((m) => m.name).join(', ')})`);
    // A module is migrated together with everything it requires.
    return requirementClosure(module, installedModules);
  };

  program
    .command('migrate')
    .description('apply pending migrations of every module (or one, with what it requires)')
    .option('-m, --module <name>', 'only this module')
    .action(async (opts: { module?: string }) => {
      const { database, results } = await migrateModules(modulesFor(opts.module), { log: progress });
      print(formatMigrate(database, results), { database, results });
    });

  program
    .command('revert')
    .description("revert a module's latest migration, or every one after --to <name> (--to 0: all)")
    .requiredOption('-m, --module <name>', 'the module to revert')
    .option('--to <migration>', 'keep this migration and revert every later one')
    .action(async (opts: { module: string; to?: string }) => {
      modulesFor(opts.module);
      const result = await revertModule(installedModules, opts.module, opts.to, { log: progress });
      print(
        result.reverted.length ? `${result.module}: reverted ${result.reverted.join(', ')}` : `${result.module}: nothing to revert`,
        result,
      );
    });

  program
    .command('status')
    .description('applied and pending migrations per module')
    .action(async () => {
      const { database, modules } = await moduleStatus(installedModules);
      print(formatStatus(database, modules), { database, modules });
    });

  program
    .command('health')
    .description('the health report (base.health_check())')
    .action(async () => {
      const report = await databaseHealth(installedModules);
      print(formatHealth(report), report);
    });

  program
    .command('validate')
    .description('integrity rules (base.validate_integrity()): tenancy, references, partitions, constraints; exit 1 on a violation')
    .action(async () => {
      const report = await databaseIntegrity();
      print(formatIntegrity(report), report);
      if (!report.ok) throw new ReportedFailure();
    });

  program
    .command('maintain')
    .description('partition maintenance: create future partitions, empty DEFAULT partitions, apply retention')
    .action(async () => {
      progress('running base.run_maintenance()');
      const report = await maintainPartitions();
      print(formatMaintenance(report), report);
    });

  program
    .command('start')
    .description('the main job: migrate every module, then print the health report')
    .action(async () => {
      const migrated = await migrateModules(installedModules, { log: progress });
      const report = await databaseHealth(installedModules);
      print(`${formatMigrate(migrated.database, migrated.results)}\n\n${formatHealth(report)}`, { migrated, health: report });
    });

  return program;
}

export class UsageError extends Error {}

/** The command already printed why it failed (e.g. integrity violations): exit 1 without another line. */
class ReportedFailure extends Error {}

/** Runs the CLI and returns its exit code instead of exiting (tests call this). */
export async function runCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const program = buildCli(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2; // help / version print and exit 0; usage errors 2
    }
    if (error instanceof ReportedFailure) return 1;
    // The CLI writes nothing from user data, so a ValidationError here is about its own arguments (e.g. --to).
    if ((error as { code?: unknown })?.code === 'VALIDATION_FAILED') {
      io.err(`strata: ${(error as Error).message}`);
      return 2;
    }
    if (error instanceof UsageError) {
      io.err(`strata: ${error.message}`);
      return 2;
    }
    // Duck-typed: errors from the driver may come from another realm (jest's VM), where instanceof Error fails.
    const { message, stack } = (error ?? {}) as { message?: unknown; stack?: unknown };
    io.err(`strata: ${typeof message === 'string' ? message : String(error)}`);
    if (argv.includes('--verbose') && typeof stack === 'string') io.err(stack);
    return 1;
  }
}

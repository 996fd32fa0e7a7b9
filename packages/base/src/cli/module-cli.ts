#!/usr/bin/env node
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { StrataError } from '../errors';
import { formatDrift, formatLint, formatMigrate, formatStatus } from './format';
import { loadPackageModules } from './load-modules';
import { checkModuleDrift, generateMigration, lintModuleMigrations, migrateModules, moduleStatus, revertModule } from './operations';

const USAGE = `Usage: strata-module <command> [options]   (run in a module package's folder; Nx targets do)

Commands:
  migrate                 apply the module's pending migrations (and those of the modules it requires)
  revert [--to <name>]    revert the latest migration, or every one after <name> (0 = all)
  status                  applied / pending migrations
  check                   drift check: the entities match the migrated schema
  lint                    migration lint: squawk on the SQL of every migration that changes an existing table
  generate --name <name>  write src/migrations/<timestamp>-<name>.ts from the entity changes

Options: --package <dir>  the module package (default: the current folder)
         --json  machine-readable output;  --verbose  stack traces on errors
Database: DATABASE_URL, or the embedded PGlite in STRATA_DATA_DIR (default .strata/pgdata).
check/generate without DATABASE_URL use a scratch in-memory database migrated from empty; lint always does.`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      package: { type: 'string' },
      to: { type: 'string' },
      name: { type: 'string' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const print = (human: string, data: unknown) => console.log(values.json ? JSON.stringify(data, null, 2) : human);
  const log = values.json ? undefined : (line: string) => console.error(`  … ${line}`);
  const packageDir = resolve(values.package ?? process.cwd());
  const { module, installed } = loadPackageModules(packageDir);
  switch (command) {
    case 'migrate': {
      const { database, results } = await migrateModules(installed, { log });
      print(formatMigrate(database, results), results);
      return 0;
    }
    case 'revert': {
      const result = await revertModule(installed, module.name, values.to, { log });
      print(
        result.reverted.length ? `${module.name}: reverted ${result.reverted.join(', ')}` : `${module.name}: nothing to revert`,
        result,
      );
      return 0;
    }
    case 'status': {
      const { database, modules } = await moduleStatus(installed);
      print(formatStatus(database, modules), modules);
      return 0;
    }
    case 'check': {
      const report = await checkModuleDrift(module, installed, { log });
      print(formatDrift(report), report);
      return report.statements.length === 0 ? 0 : 1;
    }
    case 'lint': {
      const report = await lintModuleMigrations(module, installed, { log });
      print(formatLint(report), report);
      return report.findings.length === 0 ? 0 : 1;
    }
    case 'generate': {
      if (!values.name) {
        console.error('generate needs --name <kebab-name>');
        return 2;
      }
      const result = await generateMigration(module, installed, values.name, packageDir, { log });
      print(
        result.file
          ? `Wrote ${result.file}\nAdd ${result.className} to the migrations array of ${module.name}'s module definition (src/index.ts).`
          : `${module.name}: no entity changes: nothing to generate.`,
        result,
      );
      return 0;
    }
    default:
      console.error(`Unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const verbose = process.argv.includes('--verbose');
    const message = error instanceof StrataError || !(error instanceof Error) ? String((error as Error).message ?? error) : error.message;
    console.error(`strata-module: ${message}`);
    if (verbose && error instanceof Error) console.error(error.stack);
    // Bad usage exits 2: unknown options, and a ValidationError, which here is about the arguments (e.g. --to).
    const code = String((error as { code?: string }).code ?? '');
    process.exit(code.startsWith('ERR_PARSE_ARGS') || code === 'VALIDATION_FAILED' ? 2 : 1);
  },
);

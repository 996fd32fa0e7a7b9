// @ts-check
const { readFileSync } = require('node:fs');
const { dirname } = require('node:path');
const { createNodesFromFiles } = require('@nx/devkit');

/**
 * Gives every package that declares `"strata": { "module": "<name>" }` in its
 * package.json the migration targets, so no package repeats them:
 * migrate, migrate:revert, migration:check, migration:lint, migration:generate.
 * Ordering, caching and parallelism rules are in nx.json's targetDefaults.
 * A package with `"strata": { "cli": "<file>" }` (the composer) migrates every
 * module through that CLI instead.
 *
 * Plain JavaScript so Nx loads it without a TypeScript runtime.
 */
const MODULE_CLI = 'node packages/base/dist/cli/module-cli.js'; // commands run from the workspace root

/** @returns {import('@nx/devkit').TargetConfiguration} */
function target(command, description) {
  // Run from the workspace root so relative paths (STRATA_DATA_DIR's default .strata/pgdata) mean the same everywhere.
  return { command: `${MODULE_CLI} ${command} --package {projectRoot}`, metadata: { description } };
}

/** @type {import('@nx/devkit').CreateNodesV2} */
const createNodesV2 = [
  '{packages,apps}/*/package.json',
  (configFiles, options, context) =>
    createNodesFromFiles(
      (file) => {
        /** @type {{ strata?: { module?: string; cli?: string } }} */
        const manifest = JSON.parse(readFileSync(file, 'utf8'));
        const module = manifest.strata?.module;
        if (!module) return {};
        const cli = manifest.strata?.cli;
        return {
          projects: {
            [dirname(file)]: {
              targets: {
                migrate: cli
                  ? { command: `node {projectRoot}/${cli} migrate`, metadata: { description: 'Migrate every installed module' } }
                  : target('migrate', `Apply pending migrations of module ${module}`),
                'migrate:revert': target('revert', `Revert module ${module}'s latest migration (--to <name> for more)`),
                'migration:check': target('check', `Fail if module ${module}'s entities differ from its migrated schema`),
                'migration:lint': target('lint', `Lint module ${module}'s migrations that change existing tables (squawk, .squawk.toml)`),
                'migration:generate': target('generate', `Write a migration from module ${module}'s entity changes (--name <name>)`),
              },
            },
          },
        };
      },
      configFiles,
      options,
      context,
    ),
];

module.exports = { createNodesV2 };

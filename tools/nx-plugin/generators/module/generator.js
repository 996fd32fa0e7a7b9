// @ts-check
const { join } = require('node:path');
const { formatFiles, generateFiles, installPackagesTask, names, readJson, updateJson, writeJson } = require('@nx/devkit');

/**
 * `nx g @strata/nx-plugin:module <name>`: a new module package laid out like its
 * neighbours, registered in the composer and the TypeScript references.
 *
 * The model is packages/projects: its configuration files (tsconfigs, jest and
 * eslint configs) are copied as they are, so a new module is configured exactly
 * like the others, and package.json is projects' with this module's name and only
 * the dependencies the generated code uses. The code (module definition, entity,
 * first migration, test) comes from ./files.
 *
 * Plain JavaScript so Nx loads it without a TypeScript runtime.
 */

const MODEL = 'packages/projects';
const COPIED_FROM_MODEL = ['tsconfig.json', 'tsconfig.lib.json', 'tsconfig.spec.json', 'jest.config.js', 'eslint.config.mjs'];
/** What the generated code imports; other dependencies of the model are its own. */
const KEPT_DEPENDENCIES = ['@strata/base', '@strata/testing', 'typeorm', 'pg', 'reflect-metadata'];
const RESERVED = ['base', 'testing', 'composer', 'nx_plugin', 'bench', 'public', 'pg_catalog', 'information_schema'];
const COMPOSER = 'apps/composer';

/**
 * @typedef {{ name: string; description?: string; timestamp?: number; skipInstall?: boolean }} ModuleGeneratorOptions
 * @param {import('@nx/devkit').Tree} tree
 * @param {ModuleGeneratorOptions} options
 */
async function moduleGenerator(tree, options) {
  const module = moduleNames(options.name);
  const root = `packages/${module.fileName}`;
  if (tree.exists(root)) throw new Error(`${root} already exists`);
  const timestamp = options.timestamp ?? Date.now();
  if (!/^\d{13}$/.test(String(timestamp))) throw new Error(`timestamp must have 13 digits (milliseconds), got ${timestamp}`);
  const description = options.description ?? `The ${module.schema} module (schema ${module.schema})`;

  for (const file of COPIED_FROM_MODEL) tree.write(`${root}/${file}`, /** @type {Buffer} */ (tree.read(`${MODEL}/${file}`)));
  writeJson(tree, `${root}/package.json`, manifest(readJson(tree, `${MODEL}/package.json`), module, description));
  generateFiles(tree, join(__dirname, 'files'), root, { ...module, description, timestamp, template: '' });

  register(tree, module);
  await formatFiles(tree);
  return options.skipInstall ? undefined : () => installPackagesTask(tree, true);
}

/**
 * @param {string} name
 * @returns {{ schema: string; fileName: string; className: string; propertyName: string; packageName: string }}
 */
function moduleNames(name) {
  if (!/^[a-z][a-z0-9]*([-_][a-z0-9]+)*$/.test(name ?? '')) {
    throw new Error(`Module name "${name}" must be lower case letters and digits, words joined by - or _ (e.g. events, code-base)`);
  }
  const { fileName, className, propertyName, constantName } = names(name);
  const schema = constantName.toLowerCase(); // the PostgreSQL schema and the module's name: snake_case
  if (RESERVED.includes(schema)) throw new Error(`"${name}" is taken: choose another module name`);
  return { schema, fileName, className, propertyName, packageName: `@strata/${fileName}` };
}

/** The model's package.json with this module's name and description, and only the dependencies the generated code uses. */
function manifest(model, module, description) {
  /** @param {Record<string, unknown> | undefined} dependencies */
  const kept = (dependencies) =>
    dependencies && Object.fromEntries(Object.entries(dependencies).filter(([name]) => KEPT_DEPENDENCIES.includes(name)));
  return {
    ...model,
    name: module.packageName,
    description,
    strata: { ...model.strata, module: module.schema },
    dependencies: kept(model.dependencies),
    ...(model.peerDependencies && { peerDependencies: kept(model.peerDependencies) }),
    ...(model.peerDependenciesMeta && { peerDependenciesMeta: kept(model.peerDependenciesMeta) }),
    ...(model.devDependencies && { devDependencies: kept(model.devDependencies) }),
  };
}

/** The composer installs every module (its definition, dependency and project reference); the root tsconfig references every package. */
function register(tree, module) {
  const version = readJson(tree, `${COMPOSER}/package.json`).dependencies['@strata/base'];
  updateJson(tree, 'tsconfig.json', (json) => addReference(json, `./packages/${module.fileName}`));
  updateJson(tree, `${COMPOSER}/tsconfig.lib.json`, (json) => addReference(json, `../../packages/${module.fileName}/tsconfig.lib.json`));
  updateJson(tree, `${COMPOSER}/package.json`, (json) => {
    json.dependencies = sortedKeys({ ...json.dependencies, [module.packageName]: version });
    return json;
  });

  const variable = `${module.propertyName}Module`;
  edit(tree, `${COMPOSER}/src/modules.ts`, (source) => {
    const imports = [...source.matchAll(/^import .* from '@strata\/[^']+';$/gm)];
    const last = imports[imports.length - 1];
    if (!last || !/,(\s*)composerModule(,?\s*)\]\)/.test(source))
      throw new Error(`${COMPOSER}/src/modules.ts: no installedModules list ending in composerModule`);
    const end = /** @type {number} */ (last.index) + last[0].length;
    // The list may be on one line or one module a line (as Prettier wraps it): the new module goes before the composer either way.
    return `${source.slice(0, end)}\nimport { ${variable} } from '${module.packageName}';${source.slice(end)}`.replace(
      /,(\s*)composerModule(,?\s*)\]\)/,
      (_, gap, tail) => `,${gap}${variable},${gap}composerModule${tail}])`,
    );
  });
  // The composer requires every module, so its cross-module migrations run last.
  edit(tree, `${COMPOSER}/src/composer.module.ts`, (source) => {
    if (!/requires: \[[^\]]*\]/.test(source)) throw new Error(`${COMPOSER}/src/composer.module.ts: no requires list`);
    return source.replace(/requires: \[([^\]]*)\]/, (_, list) => `requires: [${list.trim()}, '${module.schema}']`);
  });
}

/** @param {{ references?: { path: string }[] }} json @param {string} path */
function addReference(json, path) {
  json.references = [...(json.references ?? []).filter((r) => r.path !== path), { path }];
  return json;
}

/** @param {Record<string, string>} object */
function sortedKeys(object) {
  return Object.fromEntries(Object.entries(object).sort(([a], [b]) => a.localeCompare(b)));
}

/** @param {import('@nx/devkit').Tree} tree @param {string} path @param {(source: string) => string} change */
function edit(tree, path, change) {
  const source = tree.read(path, 'utf-8');
  if (source === null) throw new Error(`${path} not found`);
  tree.write(path, change(source));
}

module.exports = moduleGenerator;
module.exports.default = moduleGenerator;
module.exports.moduleGenerator = moduleGenerator;

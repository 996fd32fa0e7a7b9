const { join } = require('node:path');
// The Tree behind @nx/devkit's createTree(), here rooted at the real workspace: it reads the
// workspace's files as they are and keeps every write in memory (nothing is flushed to disk).
const { FsTree } = require('nx/src/generators/tree');
const ts = require('typescript');
const moduleGenerator = require('../generators/module/generator');

const workspace = join(__dirname, '..', '..', '..');
const workspaceTree = () => new FsTree(workspace, false);

/** TypeScript's own parser: the generated sources are valid TypeScript. */
function syntaxErrors(source, fileName) {
  const { diagnostics } = ts.transpileModule(source, {
    fileName,
    reportDiagnostics: true,
    compilerOptions: { experimentalDecorators: true },
  });
  return (diagnostics ?? []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('nx g @strata/nx-plugin:module', () => {
  it('creates a module package laid out like projects, and registers it in the composer and the TypeScript references', async () => {
    const tree = workspaceTree();
    const install = await moduleGenerator(tree, { name: 'widgets', timestamp: 1796201000000, skipInstall: true });
    expect(install).toBeUndefined();

    const changes = Object.fromEntries(tree.listChanges().map((c) => [c.path, c.type]));
    const created = Object.keys(changes)
      .filter((path) => path.startsWith('packages/widgets/'))
      .sort();
    expect(created).toEqual(
      [
        'eslint.config.mjs',
        'jest.config.js',
        'package.json',
        'src/entities/example.entity.ts',
        'src/entities/index.ts',
        'src/index.ts',
        'src/migrations/1796201000000-create-widgets-schema.ts',
        'src/widgets.module.ts',
        'test/schema.test.ts',
        'tsconfig.json',
        'tsconfig.lib.json',
        'tsconfig.spec.json',
      ].map((file) => `packages/widgets/${file}`),
    );
    expect(created.every((path) => changes[path] === 'CREATE')).toBe(true);
    const updated = Object.keys(changes)
      .filter((path) => !path.startsWith('packages/widgets/'))
      .sort();
    expect(updated).toEqual([
      'apps/composer/package.json',
      'apps/composer/src/composer.module.ts',
      'apps/composer/src/modules.ts',
      'apps/composer/tsconfig.lib.json',
      'tsconfig.json',
    ]);
    expect(updated.every((path) => changes[path] === 'UPDATE')).toBe(true);

    const read = (path) => tree.read(path, 'utf-8');
    const json = (path) => JSON.parse(read(path));
    const model = json('packages/projects/package.json');

    // package.json: projects' shape with the module's name, strata block and tags, on @strata/base.
    const manifest = json('packages/widgets/package.json');
    expect(manifest).toMatchObject({
      name: '@strata/widgets',
      version: model.version,
      main: model.main,
      types: model.types,
      exports: model.exports,
      files: model.files,
      strata: { module: 'widgets' },
      nx: { tags: ['scope:module'] },
    });
    expect(manifest.exports['.']['@strata/source']).toBe('./src/index.ts');
    expect(manifest.dependencies['@strata/base']).toBe(model.dependencies['@strata/base']);
    expect(Object.keys(manifest.dependencies)).not.toContain('class-validator'); // projects' own, unused here
    for (const file of ['tsconfig.json', 'tsconfig.lib.json', 'tsconfig.spec.json', 'jest.config.js', 'eslint.config.mjs']) {
      expect(read(`packages/widgets/${file}`)).toBe(read(`packages/projects/${file}`));
    }

    // The module definition, with explicit arrays; the migration in raw SQL with base's tenancy helpers.
    const definition = read('packages/widgets/src/widgets.module.ts');
    expect(definition).toContain("name: 'widgets'");
    expect(definition).toContain('entities: [WidgetsExample]');
    expect(definition).toContain('migrations: [CreateWidgetsSchema1796201000000]');
    expect(read('packages/widgets/src/index.ts')).toContain("export { widgetsModule } from './widgets.module';");
    const migration = read('packages/widgets/src/migrations/1796201000000-create-widgets-schema.ts');
    expect(migration).toContain("name = 'CreateWidgetsSchema1796201000000'");
    expect(migration).toContain(`table: 'widgets.examples'`);
    expect(migration).toContain('await createTenantTable(q, examples);');
    expect(migration).toContain('await dropTenantTable(q, examples);');
    expect(read('packages/widgets/src/entities/example.entity.ts')).toContain("@Entity({ schema: 'widgets', name: 'examples' })");
    expect(read('packages/widgets/test/schema.test.ts')).toContain("from '@strata/testing'");
    for (const path of created.filter((p) => p.endsWith('.ts')))
      expect({ path, errors: syntaxErrors(read(path), path) }).toEqual({ path, errors: [] });

    // Registered: the composer installs it (and requires it, so its own migrations run last), references follow.
    const modules = read('apps/composer/src/modules.ts');
    expect(modules).toContain("import { widgetsModule } from '@strata/widgets';");
    // After the modules the workspace already has (whichever they are), before the composer.
    expect(modules).toMatch(/orderModules\(\[\s*baseModule,[^\]]*\bwidgetsModule,\s*composerModule,?\s*\]\)/);
    expect(read('apps/composer/src/composer.module.ts')).toMatch(/requires: \['base', [^\]]*'widgets'\]/);
    expect(json('apps/composer/package.json').dependencies['@strata/widgets']).toBe('0.1.0');
    expect(json('apps/composer/tsconfig.lib.json').references).toContainEqual({ path: '../../packages/widgets/tsconfig.lib.json' });
    expect(json('tsconfig.json').references).toContainEqual({ path: './packages/widgets' });
    for (const path of ['apps/composer/src/modules.ts', 'apps/composer/src/composer.module.ts']) {
      expect({ path, errors: syntaxErrors(read(path), path) }).toEqual({ path, errors: [] });
    }
  });

  it('names a two-word module: package and folder with a dash, schema with an underscore', async () => {
    const tree = workspaceTree();
    await moduleGenerator(tree, { name: 'code-base', timestamp: 1796201000001, skipInstall: true });
    expect(JSON.parse(tree.read('packages/code-base/package.json', 'utf-8'))).toMatchObject({
      name: '@strata/code-base',
      strata: { module: 'code_base' },
    });
    expect(tree.read('packages/code-base/src/code-base.module.ts', 'utf-8')).toContain(
      "export const codeBaseModule = defineModule({\n  name: 'code_base',",
    );
    expect(tree.exists('packages/code-base/src/migrations/1796201000001-create-code-base-schema.ts')).toBe(true);
    expect(tree.read('apps/composer/src/modules.ts', 'utf-8')).toContain("import { codeBaseModule } from '@strata/code-base';");
  });

  it('refuses a taken or malformed name and a bad timestamp, writing nothing', async () => {
    for (const [options, message] of [
      [{ name: 'projects' }, /packages\/projects already exists/],
      [{ name: 'base' }, /"base" is taken/],
      [{ name: 'Widgets' }, /must be lower case letters and digits/],
      [{ name: 'widgets!' }, /must be lower case letters and digits/],
      [{ name: 'widgets', timestamp: 17962 }, /timestamp must have 13 digits/],
    ]) {
      const tree = workspaceTree();
      await expect(moduleGenerator(tree, { skipInstall: true, ...options })).rejects.toThrow(message);
      expect(tree.listChanges()).toEqual([]);
    }
  });
});

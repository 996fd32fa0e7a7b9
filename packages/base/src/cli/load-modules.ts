import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ConfigurationError } from '../errors';
import { StrataModule, isStrataModule } from '../module';

/** The StrataModule a package exports (its `index` exports one definition, e.g. `tasksModule`). */
export function moduleExportedBy(exports: Record<string, unknown>, from: string): StrataModule {
  const found = Object.values(exports).filter(isStrataModule);
  if (found.length !== 1) throw new ConfigurationError(`${from} must export exactly one Strata module definition, found ${found.length}`);
  return found[0];
}

/**
 * Loads the module built in `packageDir` (its `dist/index.js`) and, through the
 * package's own node_modules resolution, every module it requires (`@strata/<name>`).
 */
export function loadPackageModules(packageDir: string): { module: StrataModule; installed: StrataModule[] } {
  const requireFromPackage = createRequire(join(packageDir, 'package.json'));
  const entry = join(packageDir, 'dist', 'index.js');
  let module: StrataModule;
  try {
    module = moduleExportedBy(requireFromPackage(entry), entry);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
      throw new ConfigurationError(`${entry} not found: build the package first (nx run <project>:build)`);
    }
    throw error;
  }
  const installed = new Map<string, StrataModule>([[module.name, module]]);
  const load = (m: StrataModule): void => {
    for (const name of m.requires) {
      if (installed.has(name)) continue;
      const required = moduleExportedBy(requireFromPackage(`@strata/${name.replace(/_/g, '-')}`), `@strata/${name}`);
      installed.set(name, required);
      load(required);
    }
  };
  load(module);
  return { module, installed: [...installed.values()] };
}

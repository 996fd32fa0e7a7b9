import { posix } from 'node:path';

/**
 * Resolves import specifiers to files of the analysed tree (paths relative to
 * its root, forward slashes). TypeScript/JavaScript: relative specifiers (with
 * the `.js` → `.ts` mapping of node16 resolution and `index` files), workspace
 * packages by their package.json `name` (through `exports` — any condition
 * whose target is in the tree, sources preferred — then `types`, `main`,
 * `src/index.ts`), and tsconfig `paths`. Python: relative (`.x`, `..x`) and
 * absolute module names from the root or `src/`. Go: module paths under a
 * `go.mod`, to the package's first non-test file.
 */
export class ImportResolver {
  private readonly files: Set<string>;
  private readonly packages = new Map<string, { dir: string; manifest: Record<string, unknown> }>();
  private readonly paths: { prefix: string; suffix: string; wildcard: boolean; targets: string[] }[] = [];
  private readonly goModules: { module: string; dir: string }[] = [];

  /** `read(path)` returns a file's text (package.json, tsconfig*.json and go.mod are read). */
  constructor(files: Iterable<string>, read: (path: string) => string | undefined) {
    this.files = new Set(files);
    for (const path of this.files) {
      const base = posix.basename(path);
      try {
        if (base === 'package.json' && !path.includes('node_modules/')) {
          const manifest = JSON.parse(read(path) ?? '{}') as Record<string, unknown>;
          if (typeof manifest.name === 'string') this.packages.set(manifest.name, { dir: posix.dirname(path), manifest });
        } else if (/^tsconfig.*\.json$/.test(base)) {
          this.readTsconfig(path, read(path) ?? '{}');
        } else if (base === 'go.mod') {
          const module = /^module\s+(\S+)/m.exec(read(path) ?? '')?.[1];
          if (module) this.goModules.push({ module, dir: posix.dirname(path) });
        }
      } catch {
        // A malformed manifest resolves nothing; the file itself is still analysed.
      }
    }
  }

  /** Whether the specifier is meant to name a file of this tree (relative, or a package, alias or module of it). */
  isInternal(language: string | null, from: string, specifier: string): boolean {
    if (specifier.startsWith('.')) return true;
    if (language === 'go') return this.goModules.some((m) => specifier === m.module || specifier.startsWith(`${m.module}/`));
    if (language === 'python') return this.resolve(language, from, specifier) !== null;
    return this.packageOf(specifier) !== undefined || this.paths.some((p) => this.matches(p, specifier) !== null);
  }

  resolve(language: string | null, from: string, specifier: string): string | null {
    if (language === 'python') return this.resolvePython(from, specifier);
    if (language === 'go') return this.resolveGo(specifier);
    if (language === 'typescript' || language === 'tsx' || language === 'javascript') return this.resolveTs(from, specifier);
    return null;
  }

  private resolveTs(from: string, specifier: string): string | null {
    if (specifier.startsWith('.')) return this.tsFile(posix.join(posix.dirname(from), specifier));
    for (const alias of this.paths) {
      const star = this.matches(alias, specifier);
      if (star === null) continue;
      for (const target of alias.targets) {
        const found = this.tsFile(target.replace('*', star));
        if (found) return found;
      }
    }
    const pkg = this.packageOf(specifier);
    if (!pkg) return null;
    const sub = specifier === pkg.name ? '.' : `.${specifier.slice(pkg.name.length)}`;
    const { dir, manifest } = pkg.entry;
    const candidates = [...exportTargets(manifest.exports, sub)];
    if (sub === '.')
      candidates.push(...[manifest.types, manifest.typings, manifest.main].filter((v): v is string => typeof v === 'string'));
    candidates.push(sub === '.' ? './src/index' : `./src/${sub.slice(2)}`, sub);
    // Sources first: a workspace package's built files may not exist in the tree.
    const ordered = [...candidates.filter((c) => !/\b(dist|build|lib)\//.test(c)), ...candidates];
    for (const candidate of ordered) {
      const found =
        this.tsFile(posix.join(dir, candidate)) ?? this.tsFile(posix.join(dir, candidate.replace(/\b(dist|build|lib)\//, 'src/')));
      if (found) return found;
    }
    return null;
  }

  private tsFile(path: string): string | null {
    const normal = posix.normalize(path).replace(/^\.\//, '');
    const stem = normal.replace(/\.(d\.ts|js|mjs|cjs|jsx)$/, '');
    const candidates = [
      normal,
      ...['.ts', '.tsx', '.d.ts', '.js', '.jsx', '.mjs', '.cjs'].map((ext) => `${stem}${ext}`),
      ...['index.ts', 'index.tsx', 'index.js'].map((index) => `${normal}/${index}`),
    ];
    return candidates.find((c) => this.files.has(c) && /\.[cm]?[jt]sx?$/.test(c)) ?? null;
  }

  private resolvePython(from: string, specifier: string): string | null {
    const dots = /^\.*/.exec(specifier)![0].length;
    const rest = specifier.slice(dots).replace(/\./g, '/');
    const roots = dots > 0 ? [posix.join(posix.dirname(from), ...Array<string>(dots - 1).fill('..'))] : ['', 'src'];
    for (const root of roots) {
      const base = posix.normalize(posix.join(root, rest)).replace(/^\.\/?/, '');
      for (const candidate of [`${base}.py`, `${base}/__init__.py`, `${base}.pyi`]) {
        const path = candidate.replace(/^\//, '');
        if (this.files.has(path)) return path;
      }
    }
    return null;
  }

  private resolveGo(specifier: string): string | null {
    for (const { module, dir } of this.goModules) {
      if (specifier !== module && !specifier.startsWith(`${module}/`)) continue;
      const packageDir = posix.join(dir, specifier.slice(module.length));
      const inDir = [...this.files]
        .filter((f) => posix.dirname(f) === posix.normalize(packageDir) && f.endsWith('.go') && !f.endsWith('_test.go'))
        .sort();
      if (inDir.length > 0) return inDir[0];
    }
    return null;
  }

  private packageOf(specifier: string): { name: string; entry: { dir: string; manifest: Record<string, unknown> } } | undefined {
    const parts = specifier.split('/');
    const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
    const entry = this.packages.get(name);
    return entry ? { name, entry } : undefined;
  }

  private matches(alias: { prefix: string; suffix: string; wildcard: boolean }, specifier: string): string | null {
    if (!alias.wildcard) return specifier === alias.prefix ? '' : null;
    if (!specifier.startsWith(alias.prefix) || !specifier.endsWith(alias.suffix)) return null;
    return specifier.slice(alias.prefix.length, specifier.length - alias.suffix.length);
  }

  private readTsconfig(path: string, text: string): void {
    const config = JSON.parse(stripJsonComments(text)) as { compilerOptions?: { baseUrl?: string; paths?: Record<string, string[]> } };
    const paths = config.compilerOptions?.paths;
    if (!paths) return;
    const base = posix.join(posix.dirname(path), config.compilerOptions?.baseUrl ?? '.');
    for (const [pattern, targets] of Object.entries(paths)) {
      const [prefix, suffix = ''] = pattern.split('*');
      this.paths.push({ prefix, suffix, wildcard: pattern.includes('*'), targets: targets.map((t) => posix.join(base, t)) });
    }
  }
}

/** Every target of an `exports` entry for a subpath, whatever the conditions. */
function exportTargets(exports: unknown, sub: string): string[] {
  if (exports === undefined || exports === null) return [];
  if (typeof exports === 'string') return sub === '.' ? [exports] : [];
  if (typeof exports !== 'object') return [];
  const map = exports as Record<string, unknown>;
  const isSubpathMap = Object.keys(map).some((key) => key.startsWith('.'));
  if (!isSubpathMap) return sub === '.' ? conditionTargets(map) : [];
  if (sub in map) return conditionTargets(map[sub]);
  for (const [key, value] of Object.entries(map)) {
    const [prefix, suffix = ''] = key.split('*');
    if (key.includes('*') && sub.startsWith(prefix) && sub.endsWith(suffix)) {
      const star = sub.slice(prefix.length, sub.length - suffix.length);
      return conditionTargets(value).map((target) => target.replace('*', star));
    }
  }
  return [];
}

function conditionTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(conditionTargets);
  if (value && typeof value === 'object') return Object.values(value).flatMap(conditionTargets);
  return [];
}

function stripJsonComments(text: string): string {
  return text
    .replace(/("(?:\\.|[^"\\])*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (match, string: string | undefined) => string ?? '')
    .replace(/,(\s*[}\]])/g, '$1');
}

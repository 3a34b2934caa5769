/**
 * The layering the README and docs/architecture.md describe, checked on the source: a newcomer can
 * trust the folders. (Import circles are checked by `npm run lint:cycles`, madge.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');
const PROD_DIRS = [
  'config.ts',
  'core',
  'io',
  'runtime',
  'media',
  'methods',
  'activities',
  'workflows',
  'workers',
  'ingest',
  'dispatch',
  'cli',
  'infra',
  'demo',
  'loadtest',
  'ui',
];

function tsFiles(p: string): string[] {
  const abs = path.join(ROOT, p);
  if (!fs.existsSync(abs)) return [];
  if (fs.statSync(abs).isFile()) return p.endsWith('.ts') ? [p] : [];
  return fs.readdirSync(abs).flatMap((f) => tsFiles(path.join(p, f)));
}

/** Project files a file imports (import/export from, require, typeof import), as repo-relative paths without extension. */
function importsOf(file: string): Array<{ target: string; typeOnly: boolean }> {
  const src = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const out: Array<{ target: string; typeOnly: boolean }> = [];
  const re =
    /(import\s+type\s[^;]*?from\s+|import\s[^;]*?from\s+|export\s[^;]*?from\s+|require\(\s*|import\(\s*)'(\.[^']+)'/g;
  for (const m of src.matchAll(re)) {
    const target = path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), m[2])).replace(/\\/g, '/');
    out.push({ target, typeOnly: /^import\s+type\s/.test(m[1]) });
  }
  return out;
}

const files = PROD_DIRS.flatMap(tsFiles);
const top = (p: string) => p.split('/')[0].replace(/\.ts$/, '');

describe('architecture', () => {
  it('finds the source files', () => {
    expect(files.length).toBeGreaterThan(50);
  });

  it('core/ is workflow-safe: it imports nothing of the project outside core/ and no Node module', () => {
    const bad: string[] = [];
    for (const f of files.filter((x) => x.startsWith('core/'))) {
      for (const i of importsOf(f)) if (top(i.target) !== 'core') bad.push(`${f} -> ${i.target}`);
      if (/from 'node:|require\('node:/.test(fs.readFileSync(path.join(ROOT, f), 'utf8'))) bad.push(`${f} -> node:*`);
    }
    expect(bad).toEqual([]);
  });

  it('workflows/ import only core/, other workflows, and activity types', () => {
    const bad: string[] = [];
    for (const f of files.filter((x) => x.startsWith('workflows/'))) {
      for (const i of importsOf(f)) {
        const ok = ['core', 'workflows'].includes(top(i.target)) || (i.target === 'activities/types' && i.typeOnly);
        if (!ok) bad.push(`${f} -> ${i.target}${i.typeOnly ? ' (type)' : ''}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('nothing outside workflows/ imports a workflow module (the worker loads them by path)', () => {
    const bad = files
      .filter((f) => !f.startsWith('workflows/'))
      .flatMap((f) =>
        importsOf(f)
          .filter((i) => top(i.target) === 'workflows')
          .map((i) => `${f} -> ${i.target}`),
      );
    expect(bad).toEqual([]);
  });

  it('a method never imports another method', () => {
    const bad: string[] = [];
    for (const f of files.filter((x) => /^methods\/[^/]+\//.test(x))) {
      const own = f.split('/')[1];
      for (const i of importsOf(f)) {
        const m = /^methods\/([^/]+)\//.exec(i.target);
        if (m && m[1] !== own) bad.push(`${f} -> ${i.target}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('activities, methods, runtime and media never import processes (ingest, dispatch, workers, cli)', () => {
    const bad: string[] = [];
    for (const f of files.filter((x) => ['activities', 'methods', 'runtime', 'media', 'io', 'core'].includes(top(x)))) {
      for (const i of importsOf(f))
        if (['ingest', 'dispatch', 'workers', 'cli'].includes(top(i.target))) bad.push(`${f} -> ${i.target}`);
    }
    expect(bad).toEqual([]);
  });

  it("loads project modules lazily with require(), never import(): under node -r tsx/cjs (the CLI, workers) import('./x') of a .ts file fails", () => {
    // `lookout fit --with-dismissed` failed this way ("Cannot find module .../io/clients imported from cli/scene.ts").
    // Runtime dynamic imports only: `import('./x').T` in a type position is erased and harmless.
    const runtimeImport = /\bawait\s+import\(\s*'\.|\bimport\(\s*'\.[^']*'\s*\)\s*\.then\(/;
    const bad = files.filter((f) => runtimeImport.test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
    expect(bad).toEqual([]);
  });

  it('only config.ts reads the environment', () => {
    const bad = files.filter(
      (f) => f !== 'config.ts' && /process\.env/.test(fs.readFileSync(path.join(ROOT, f), 'utf8')),
    );
    expect(bad).toEqual([]);
  });

  it('retry policies are written only in core/policies.ts', () => {
    const bad = files.filter(
      (f) => f !== 'core/policies.ts' && /maximumAttempts\s*:/.test(fs.readFileSync(path.join(ROOT, f), 'utf8')),
    );
    expect(bad).toEqual([]);
  });

  it('workflows are started only by io/starter.ts', () => {
    const bad = files.filter(
      (f) =>
        f !== 'io/starter.ts' &&
        /\.workflow\.start\(|signalWithStart\(/.test(fs.readFileSync(path.join(ROOT, f), 'utf8')),
    );
    expect(bad).toEqual([]);
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// `npm ci` refuses a lock that lacks any platform's build of a native package ("Missing: @swc/core-darwin-arm64
// … from lock file"), even on a machine that would never install it. A lock written from an installed
// node_modules by npm 10 records only this machine's builds (npm/cli#4828); infra/install.sh names the recipe
// that keeps them all. This catches a lock regenerated the wrong way before another platform's CI does.
interface LockPackage {
  version?: string;
  optionalDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
}

const ROOT = path.resolve(__dirname, '..', '..');
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
  lockfileVersion: number;
  packages: Record<string, LockPackage>;
};

/** Where Node's resolution finds `dep` for the package at `at` (its own node_modules, then each parent's). */
function resolveIn(at: string, dep: string): string | undefined {
  let dir = at;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${dep}`;
    if (lock.packages[candidate]) return candidate;
    if (!dir) return undefined;
    const i = dir.lastIndexOf('/node_modules/');
    dir = i >= 0 ? dir.slice(0, i) : '';
  }
}

describe('package-lock.json', () => {
  it('is a v3 lock', () => {
    expect(lock.lockfileVersion).toBe(3);
  });

  it("records every platform's optional packages of every locked package", () => {
    const missing: string[] = [];
    let checked = 0;
    for (const [at, pkg] of Object.entries(lock.packages)) {
      for (const dep of Object.keys(pkg.optionalDependencies ?? {})) {
        checked++;
        if (!resolveIn(at, dep)) missing.push(`${dep} (optional dependency of ${at || 'the project'})`);
      }
    }
    expect(checked).toBeGreaterThan(20); // @swc/core and rollup alone declare more
    expect(missing).toEqual([]);
  });

  it('records the native builds npm ci needs on macOS and Windows too', () => {
    for (const p of [
      'node_modules/@swc/core-darwin-arm64',
      'node_modules/@swc/core-win32-x64-msvc',
      'node_modules/@rollup/rollup-darwin-arm64',
    ])
      expect(Object.keys(lock.packages)).toContain(p);
  });
});

/** Every variable config.ts reads is documented in ENV_VARS, and the table in docs/configuration.md is ENV_VARS. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_VARS, envVarsMarkdown } from '../../config';

const ROOT = path.resolve(__dirname, '..', '..');

describe('environment variables', () => {
  it('ENV_VARS lists exactly the variables config.ts reads', () => {
    const src = fs.readFileSync(path.join(ROOT, 'config.ts'), 'utf8');
    // Reads look like env.NAME or (env, 'NAME', ...) in config.ts (the call's arguments may stand on their own lines).
    const read = new Set(
      [...src.matchAll(/env\.([A-Z][A-Z0-9_]+)|\(\s*env,\s*'([A-Z][A-Z0-9_]+)'/g)].map((m) => m[1] ?? m[2]),
    );
    expect([...read].sort()).toEqual(ENV_VARS.map((v) => v.name).sort());
  });

  it('the table in docs/configuration.md is generated from ENV_VARS', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
    const m = /<!-- env-table -->\n([\s\S]*?)\n<!-- \/env-table -->/.exec(doc);
    expect(m, 'docs/configuration.md has an <!-- env-table --> block').not.toBeNull();
    expect(m![1]).toBe(envVarsMarkdown());
  });
});

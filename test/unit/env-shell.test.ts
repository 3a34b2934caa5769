import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { envPairs, loadConfig, shellQuote } from '../../config';

const ROOT = path.resolve(__dirname, '..', '..');

/** Runs `script` in bash and returns the environment a child of that shell sees (env -0: any byte but NUL). */
function childEnv(script: string, env: NodeJS.ProcessEnv): Map<string, string> {
  const out = execFileSync('bash', ['-c', `${script}\nenv -0`], { cwd: ROOT, env, encoding: 'utf8' });
  return new Map(
    out
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string]),
  );
}

describe('shellQuote', () => {
  it.each([
    ['a>b'],
    ['two words'],
    ["it's"],
    ['"double"'],
    ['$HOME `id` $(id)'],
    ['back\\slash'],
    ['new\nline'],
    ["''"],
    [''],
    ['*;|&<'],
  ])('bash reads %j back exactly', (v) => {
    const got = childEnv(`export K=${shellQuote(v)}`, { PATH: process.env.PATH });
    expect(got.get('K')).toBe(v);
  });
});

describe('lookout env', () => {
  it('eval "$(node bin/lookout env)" in bash exports every variable with its exact value', () => {
    // An endpoint whose text has what broke the unquoted form (`>`) and what quoting must survive (spaces,
    // both quotes, $, backticks, ; | &): the URL parser accepts it and `lookout env` prints it as given.
    const gcs = `http://127.0.0.1:1/a b'c"d$HOME\`id\`>z;x|y&w`;
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LOOKOUT_GCS_ENDPOINT: gcs,
      LOOKOUT_BUCKET: 'my-bucket',
    };
    const want = envPairs(loadConfig(env));
    expect(want.map(([k]) => k)).toEqual(
      expect.arrayContaining([
        'LOOKOUT_GCS_ENDPOINT',
        'LOOKOUT_NATS_SUBJECT',
        'BIGQUERY_EMULATOR_HOST',
        'LOOKOUT_PIPELINE',
      ]),
    );
    const got = childEnv('set -euo pipefail\neval "$(node bin/lookout env)"', env);
    for (const [k, v] of want) expect([k, got.get(k)]).toEqual([k, v]);
    expect(got.get('LOOKOUT_GCS_ENDPOINT')).toBe(gcs);
    expect(got.get('LOOKOUT_NATS_SUBJECT')).toBe('lookout.objects.>');
    // The last variable is set too: the unquoted form stopped at the `>` and left the rest unset.
    expect(got.get(want[want.length - 1][0])).toBe(want[want.length - 1][1]);
  });
});

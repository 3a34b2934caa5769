/**
 * infra/install.sh without Go (LOOKOUT_INSTALL_RELEASES=1): a release archive is installed only when its SHA-256
 * matches. The network is replaced by a stand-in `curl` that serves a local archive and records the URL asked for,
 * so this checks the script's logic (URL, hash check, refusal, unpacking, the "present" stamp), not the real hashes.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-install-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function setup() {
  const pkg = path.join(tmp, 'pkg', 'nats-server-v2.12.15-linux-amd64');
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, 'nats-server'), '#!/bin/sh\necho stand-in nats-server\n', { mode: 0o755 });
  const archive = path.join(tmp, 'nats.tar.gz');
  spawnSync('tar', ['-czf', archive, '-C', path.join(tmp, 'pkg'), 'nats-server-v2.12.15-linux-amd64']);
  const fake = path.join(tmp, 'fake');
  fs.mkdirSync(fake, { recursive: true });
  fs.writeFileSync(
    path.join(fake, 'curl'),
    `#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in -o) out=$2; shift;; http*) echo "$1" >> ${tmp}/urls;; esac; shift; done\ncp ${archive} "$out"\n`,
    { mode: 0o755 },
  );
  return { archive, fake, sha: crypto.createHash('sha256').update(fs.readFileSync(archive)).digest('hex') };
}

const run = (fake: string, env: Record<string, string>) =>
  spawnSync('bash', [path.join(ROOT, 'infra', 'install.sh'), '--only', 'nats-server'], {
    encoding: 'utf8',
    env: {
      ...process.env,
      PATH: `${fake}:${process.env.PATH}`,
      LOOKOUT_INSTALL_RELEASES: '1',
      LOOKOUT_TOOLS_DIR: path.join(tmp, 'tools'),
      ...env,
    },
  });

describe.runIf(process.platform === 'linux' && process.arch === 'x64')('install.sh release binaries', () => {
  const { fake, sha } = setup();
  const bin = path.join(tmp, 'tools', 'nats-server');

  it('refuses a tool without a pinned hash, and an archive whose hash differs', () => {
    const none = run(fake, {});
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('no pinned SHA-256');
    expect(none.stderr).toContain('LOOKOUT_SHA256_NATS_SERVER');
    const wrong = run(fake, { LOOKOUT_SHA256_NATS_SERVER: '0'.repeat(64) });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('SHA-256 mismatch');
    expect(fs.existsSync(bin)).toBe(false);
  });

  it('installs the archive whose hash matches, from the pinned release URL, once', () => {
    const ok = run(fake, { LOOKOUT_SHA256_NATS_SERVER: sha });
    expect(ok.status, ok.stderr).toBe(0);
    expect(spawnSync(bin, { encoding: 'utf8' }).stdout).toContain('stand-in nats-server');
    expect(fs.readFileSync(path.join(tmp, 'urls'), 'utf8').trim().split('\n').at(-1)).toBe(
      'https://github.com/nats-io/nats-server/releases/download/v2.12.15/nats-server-v2.12.15-linux-amd64.tar.gz',
    );
    const again = run(fake, { LOOKOUT_SHA256_NATS_SERVER: sha });
    expect(again.stderr).toContain('present (release binary)');
  });
});

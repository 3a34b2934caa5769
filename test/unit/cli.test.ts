/** The `lookout` command line: every command is registered once, parses --help, and the binary answers. */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { helpText, parseArgs } from '../../cli/args';
import { COMMANDS } from '../../cli/commands';

describe('lookout commands', () => {
  it('each command has a unique name, a summary and a help text naming its options', () => {
    const names = COMMANDS.map((c) => c.spec.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBeGreaterThanOrEqual(19);
    for (const c of COMMANDS) {
      expect(c.spec.summary.length, c.spec.name).toBeGreaterThan(10);
      expect(parseArgs(c.spec, ['--help']).help).toBe(true);
      const h = helpText(c.spec);
      for (const o of Object.keys(c.spec.options)) expect(h, `${c.spec.name} --${o}`).toContain(`--${o}`);
    }
  });

  it('the binary lists the commands and exits 2 on an unknown one', () => {
    const bin = path.resolve(__dirname, '..', '..', 'bin', 'lookout');
    const out = execFileSync('node', [bin, '--help'], { encoding: 'utf8' });
    for (const c of COMMANDS) expect(out).toContain(c.spec.name);
    let code = 0;
    try {
      execFileSync('node', [bin, 'no-such-command'], { stdio: 'pipe' });
    } catch (e) {
      code = (e as { status: number }).status;
    }
    expect(code).toBe(2);
  });
});

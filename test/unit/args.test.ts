import { describe, expect, it } from 'vitest';
import { helpText, parseArgs, UsageError, type CommandSpec } from '../../cli/args';

const spec: CommandSpec = {
  name: 'x',
  summary: 's',
  usage: 'x [--n N]',
  options: {
    n: { type: 'number', default: 3, help: 'count' },
    flag: { type: 'boolean', help: 'f' },
    s: { type: 'string', help: 'str' },
  },
  positionals: { min: 0, max: 1, name: 'ARG' },
};

describe('parseArgs', () => {
  it('parses options, defaults, negation and positionals', () => {
    expect(parseArgs(spec, ['--n', '5', '--flag', 'p', '--s=a=b'])).toEqual({
      opts: { n: 5, flag: true, s: 'a=b' },
      positionals: ['p'],
      help: false,
    });
    expect(parseArgs(spec, ['--no-flag']).opts.flag).toBe(false);
    expect(parseArgs(spec, []).opts.n).toBe(3);
    expect(parseArgs(spec, ['--help']).help).toBe(true);
  });
  it('rejects unknown options, bad numbers and extra arguments', () => {
    expect(() => parseArgs(spec, ['--nope'])).toThrow(UsageError);
    expect(() => parseArgs(spec, ['--n', 'five'])).toThrow(/expects a number/);
    expect(() => parseArgs(spec, ['a', 'b'])).toThrow(/unexpected argument/);
    expect(() => parseArgs(spec, ['--s'])).toThrow(/needs a value/);
  });
  it('an option named like an Object.prototype property is unknown, not a lookup hit', () => {
    for (const k of ['constructor', '__proto__', 'toString', 'no-constructor'])
      expect(() => parseArgs(spec, [`--${k}=x`])).toThrow(UsageError);
  });
  it('help lists every option with its default', () => {
    const h = helpText(spec);
    expect(h).toContain('--n N');
    expect(h).toContain('(default: 3)');
    expect(h).toContain('--help');
  });
});

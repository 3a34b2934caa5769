import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCounts, recordRead, setId } from '../../bench/split-reads';

describe('split read counter', () => {
  it('counts reads per set and split, with a log, in a JSON file', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'reads-')), 'split-reads.json');
    const set = setId(7, ['running', 'loitering']);
    expect(set).toBe('seed 7, kinds running,loitering');
    expect(recordRead(set, 'validation', 'a', file)).toBe(1);
    expect(recordRead(set, 'validation', 'b', file)).toBe(2);
    expect(recordRead(set, 'test', 'c', file, new Date('2026-12-07T14:00:00Z'))).toBe(1);
    const c = readCounts(file);
    expect(c.sets[set].validation.reads).toBe(2);
    expect(c.sets[set].test.log).toEqual([{ at: '2026-12-07T14:00:00.000Z', command: 'c' }]);
    expect(readCounts(path.join(path.dirname(file), 'none.json')).sets).toEqual({});
  });
});

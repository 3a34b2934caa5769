import { describe, expect, it } from 'vitest';
import { HeldJobs, statementType, type HeldJob } from '../../infra/bigquery-api/held-jobs';

const job = (bytes: number): HeldJob => ({ resource: {}, bytes });

describe('held query jobs of the BigQuery front', () => {
  it('keeps the newest jobs within the count bound, oldest out first', () => {
    const h = new HeldJobs(3, 1e9);
    for (const id of ['a', 'b', 'c', 'd']) h.put('p', id, job(1));
    expect(h.size).toBe(3);
    expect(h.has('p', 'a')).toBe(false);
    expect(['b', 'c', 'd'].every((id) => h.has('p', id))).toBe(true);
  });

  it('keeps within the byte bound, but always the job just put', () => {
    const h = new HeldJobs(100, 10);
    h.put('p', 'a', job(4));
    h.put('p', 'b', job(4));
    h.put('p', 'c', job(4)); // 12 > 10: a goes
    expect(h.has('p', 'a')).toBe(false);
    expect(h.has('p', 'b') && h.has('p', 'c')).toBe(true);
    h.put('p', 'huge', job(50)); // bigger than the bound alone: kept, everything older goes
    expect(h.size).toBe(1);
    expect(h.has('p', 'huge')).toBe(true);
  });

  it('jobs of different projects do not collide; delete frees', () => {
    const h = new HeldJobs();
    h.put('p1', 'j', job(1));
    h.put('p2', 'j', job(1));
    expect(h.delete('p1', 'j')).toBe(true);
    expect(h.delete('p1', 'j')).toBe(false);
    expect(h.has('p2', 'j')).toBe(true);
  });

  it('names the statement type as BigQuery does', () => {
    expect(statementType('SELECT 1')).toBe('SELECT');
    expect(statementType('  -- why\nWITH x AS (SELECT 1) SELECT * FROM x')).toBe('SELECT');
    expect(statementType('insert into t (a) values (1)')).toBe('INSERT');
    expect(statementType('CREATE OR REPLACE VIEW v AS SELECT 1')).toBe('CREATE_VIEW');
    expect(statementType('CREATE TABLE IF NOT EXISTS t (a INT64)')).toBe('CREATE_TABLE');
    expect(statementType('DROP TABLE t')).toBe('DROP_TABLE');
  });
});

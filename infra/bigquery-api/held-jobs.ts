/**
 * Query jobs kept by the front instead of by bigquery-emulator.
 *
 * Why: every job the emulator records (jobs.insert) makes every later call slower and bigger — measured on
 * v0.6.6 with `SELECT 1` jobs: +6 MiB and 169 ms per job at first, +31 MiB and 684 ms per job after 120 of
 * them, never released (goccy/bigquery-emulator#512); deleting the jobs does not give it back. Its
 * synchronous jobs.query records nothing and stays at ~0.3 MiB and ~4 ms per query. The integration suite
 * and the benches poll with thousands of queries, which took the emulator past 18 GiB and stalled the whole
 * 24 GiB machine. So the front runs every plain query job through the emulator's jobs.query and answers
 * jobs.get / getQueryResults / jobs.cancel / jobs.delete for it from here.
 *
 * Bounded: the newest MAX_JOBS jobs, and at most MAX_BYTES of their result text; a job evicted earlier is
 * "not found", as a job past BigQuery's own retention would be (clients read their results within seconds).
 */
import type { ErrorProto, Field, Row } from './wire';

export interface HeldResults {
  schema?: { fields?: Field[] };
  rows?: Row[];
  totalRows?: string;
}

export interface HeldJob {
  /** The job resource as jobs.insert / jobs.get answer it. */
  resource: Record<string, unknown>;
  results?: HeldResults;
  /** A query the engine refused: its getQueryResults answer. */
  failure?: { status: number; proto: ErrorProto };
  /** Size of the result text, for the byte bound. */
  bytes: number;
}

const MAX_JOBS = 2000;
const MAX_BYTES = 512 * 1024 * 1024;

export class HeldJobs {
  private readonly jobs = new Map<string, HeldJob>();
  private bytes = 0;

  constructor(
    private readonly maxJobs = MAX_JOBS,
    private readonly maxBytes = MAX_BYTES,
  ) {}

  private key(project: string, jobId: string): string {
    return `${project}/${jobId}`;
  }

  has(project: string, jobId: string): boolean {
    return this.jobs.has(this.key(project, jobId));
  }

  get(project: string, jobId: string): HeldJob | undefined {
    return this.jobs.get(this.key(project, jobId));
  }

  put(project: string, jobId: string, job: HeldJob): void {
    this.delete(project, jobId);
    this.jobs.set(this.key(project, jobId), job);
    this.bytes += job.bytes;
    // Map iteration is insertion order: the oldest go first.
    for (const [k, old] of this.jobs) {
      if (this.jobs.size <= this.maxJobs && this.bytes <= this.maxBytes) break;
      if (k === this.key(project, jobId)) continue;
      this.jobs.delete(k);
      this.bytes -= old.bytes;
    }
  }

  delete(project: string, jobId: string): boolean {
    const k = this.key(project, jobId);
    const old = this.jobs.get(k);
    if (!old) return false;
    this.jobs.delete(k);
    this.bytes -= old.bytes;
    return true;
  }

  get size(): number {
    return this.jobs.size;
  }
}

/** BigQuery's statementType for the statistics of a held job, from the statement's first words. */
export function statementType(sql: string): string {
  const words = sql
    .replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, ' ')
    .trim()
    .split(/[\s(]+/)
    .map((w) => w.toUpperCase());
  const [first, second] = words;
  if (first === 'SELECT' || first === 'WITH' || first === '') return 'SELECT';
  if (first === 'CREATE' || first === 'DROP' || first === 'ALTER') {
    const rest = words
      .slice(1)
      .filter((w) => !['OR', 'REPLACE', 'TEMP', 'TEMPORARY', 'IF', 'NOT', 'EXISTS'].includes(w));
    return `${first}_${rest[0] === 'MATERIALIZED' ? 'MATERIALIZED_VIEW' : (rest[0] ?? second ?? 'TABLE')}`;
  }
  return first ?? 'SELECT';
}

/**
 * The BigQuery REST endpoint of the embedded stack: a small HTTP front of bigquery-emulator that makes the
 * official clients (google-cloud-bigquery for Python, @google-cloud/bigquery for Node, and Lookout itself)
 * work against it unchanged. It passes every request through to the emulator and changes only what
 * ./wire.ts and ./held-jobs.ts describe:
 *   query jobs        jobs.insert of a query (no destination table, not a dry run) and jobs.query run on the
 *                     emulator's synchronous jobs.query, which records no job; the front keeps the job and
 *                     its results (held-jobs.ts says why: recorded jobs make the emulator grow without
 *                     bound) and answers jobs.get / getQueryResults / jobs.cancel / jobs.delete for it, so a
 *                     job named by jobs.query exists afterwards (the Python client's api_method="QUERY")
 *   getQueryResults   timestamps as asked, pages, query errors as invalidQuery / notFound
 *   tabledata.list    timestamps as asked (with the table's schema), pages, selectedFields
 *   jobs.insert/get   a failed query job's errorResult as invalidQuery / notFound; a query that would make
 *                     the emulator exit is refused (wire.ts refusedQuery)
 * Everything else (datasets, tables, insertAll, uploads, load jobs, jobs.list) streams through untouched;
 * jobs.list does not show the held query jobs.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { HeldJobs, statementType, type HeldJob } from './held-jobs';
import {
  fixJobStatus,
  errorBody,
  isEmulatorQueryError,
  pageOf,
  queryError,
  refusedQuery,
  requestedFormat,
  rewriteRows,
  selectFields,
  type ErrorProto,
  type Field,
  type Row,
} from './wire';

export interface BigQueryApiOptions {
  /** The emulator's REST endpoint, e.g. http://127.0.0.1:17232. */
  upstream: string;
  host: string;
  port: number;
  log?: (line: string) => void;
  /** Log every request and its answer's status (diagnosis of a client's calls). */
  verbose?: boolean;
  /** The emulator's log file, named to a client when the emulator is down. */
  emulatorLog?: string;
  /**
   * While this file exists, insertAll and new queries are answered 503 (the writers retry): `lookout up` is
   * loading the row journal into a fresh emulator, and a retried write must find its journaled copy, not
   * race it. Queries are held too: a retried write's lookup answered from the half-loaded table, followed by
   * its insert once the hold is lifted, would put a second copy beside the journaled one.
   */
  holdInsertsWhile?: string;
}

interface Upstream {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface JsonReply {
  status: number;
  body: unknown;
}

/** The emulator did not answer (it is down: some queries make it exit, e.g. APPROX_QUANTILES … IGNORE NULLS). */
export class EmulatorUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmulatorUnavailableError';
  }
}

/**
 * What a client gets while the emulator is down: HTTP 502 with a reason of this front's own, which the
 * Python client does not retry (its retried reasons would wait 10 minutes on a process that does not come
 * back by itself) and which names the way out. The Node client retries a 502 a few times, which covers
 * `lookout up` restarting the emulator.
 */
function unavailable(upstream: URL, err: unknown, logFile = 'logs/bigquery.log under the stack folder'): JsonReply {
  const why = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  const message = `bigquery-emulator at ${upstream.host} is not answering (${why}): it exits on some queries (e.g. APPROX_QUANTILES … IGNORE NULLS); see its log (${logFile}) and run \`lookout up\` to restart it with the journaled rows`;
  return { status: 502, body: errorBody(502, { reason: 'emulatorUnavailable', message, domain: 'lookout' }) };
}

const PREFIX = '/bigquery/v2';
const FORMAT_PARAMS = [
  'formatOptions.useInt64Timestamp',
  'formatOptions.timestampOutputFormat',
  'maxResults',
  'pageToken',
  'startIndex',
  'selectedFields',
];
/** What the front asks the emulator for: microseconds (its decimal seconds lose the fraction's leading zeros). */
const UPSTREAM_FORMAT = 'formatOptions.useInt64Timestamp';

/** The API path without its optional /bigquery/v2 prefix (the Node client sends it bare to an emulator host). */
function apiPath(pathname: string): string {
  return pathname.startsWith(`${PREFIX}/`) ? pathname.slice(PREFIX.length) : pathname;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson<T>(buf: Buffer): T | undefined {
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * `rows` only when there are some, as BigQuery does: the Python client takes a response that has `rows` for a
 * complete first page, so an empty list after a maxResults=0 completion poll ended its results there.
 */
function rowsField(rows: Row[] | undefined): { rows?: Row[] } {
  return rows && rows.length > 0 ? { rows } : {};
}

export function createBigQueryApi(opts: BigQueryApiOptions): http.Server {
  const upstream = new URL(opts.upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const log = opts.log ?? (() => {});

  /** One buffered call to the emulator (the calls whose answers are rewritten). */
  const call = (method: string, pathAndQuery: string, body?: Buffer | string): Promise<Upstream> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method,
          path: pathAndQuery,
          agent,
          headers: {
            'content-type': 'application/json',
            'accept-encoding': 'identity',
            ...(body ? { 'content-length': Buffer.byteLength(body) } : {}),
          },
        },
        (res) => {
          readBody(res).then((b) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: b }), reject);
        },
      );
      req.on('error', (err) =>
        reject(
          new EmulatorUnavailableError(
            `bigquery-emulator at ${upstream.host} did not answer ${method} ${pathAndQuery}`,
            { cause: err },
          ),
        ),
      );
      if (body) req.write(body);
      req.end();
    });

  /** Streams a request through unchanged. */
  const pipe = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const up = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        agent,
        headers: { ...req.headers, host: upstream.host },
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', (err) => {
      log(`pass-through ${req.method} ${req.url}: ${err.message}`);
      if (!res.headersSent) send(res, unavailable(upstream, err, opts.emulatorLog));
      else res.destroy(err);
    });
    req.pipe(up);
  };

  const send = (res: http.ServerResponse, r: JsonReply) => {
    const text = JSON.stringify(r.body);
    res.writeHead(r.status, {
      'content-type': 'application/json; charset=UTF-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };

  /** An emulator error answer with BigQuery's reason for a failed query; other errors as they came. */
  const queryFailure = (u: Upstream): JsonReply => {
    const parsed = parseJson<{ error?: { errors?: ErrorProto[]; message?: string } }>(u.body);
    const first = parsed?.error?.errors?.[0];
    if (isEmulatorQueryError(first) || (u.status >= 500 && parsed?.error)) {
      const { status, proto } = queryError(first?.message ?? parsed?.error?.message ?? '');
      return { status, body: errorBody(status, proto) };
    }
    return { status: u.status, body: parsed ?? { error: { code: u.status, message: u.body.toString('utf8') } } };
  };

  /** The client's URL parameters for the emulator: its own paging and formats out, microseconds in. */
  const forwardQuery = (params: URLSearchParams): string => {
    const q = new URLSearchParams(params);
    for (const k of FORMAT_PARAMS) q.delete(k);
    q.set(UPSTREAM_FORMAT, 'true');
    return `?${q.toString()}`;
  };

  interface Results {
    schema?: { fields?: Field[] };
    rows?: Row[];
    totalRows?: string;
    jobReference?: Record<string, unknown>;
  }

  /** getQueryResults' answer from a query's full results: the asked page, timestamps as asked. */
  const resultsPage = (r: Results, params: URLSearchParams): JsonReply => {
    const { rows: all = [], ...rest } = r;
    const page = pageOf(all, params);
    return {
      status: 200,
      body: {
        kind: 'bigquery#getQueryResultsResponse',
        ...rest,
        ...rowsField(rewriteRows(rest.schema?.fields, page.rows, requestedFormat(params))),
        totalRows: String(rest.totalRows ?? all.length),
        ...(page.pageToken ? { pageToken: page.pageToken } : {}),
        jobComplete: true,
      },
    };
  };

  const getQueryResults = async (project: string, jobId: string, params: URLSearchParams): Promise<JsonReply> => {
    const h = held.get(project, jobId);
    if (h) {
      if (h.failure) return { status: h.failure.status, body: errorBody(h.failure.status, h.failure.proto) };
      return resultsPage({ ...h.results, jobReference: h.resource.jobReference as Record<string, unknown> }, params);
    }
    const u = await call(
      'GET',
      `${PREFIX}/projects/${encodeURIComponent(project)}/queries/${encodeURIComponent(jobId)}${forwardQuery(params)}`,
    );
    if (u.status !== 200) return queryFailure(u);
    const r = parseJson<Results>(u.body);
    if (!r) return { status: u.status, body: u.body.toString('utf8') };
    return resultsPage(r, params);
  };

  interface QueryConfig {
    query?: string;
    useLegacySql?: boolean;
    parameterMode?: string;
    queryParameters?: unknown[];
    defaultDataset?: unknown;
    useQueryCache?: boolean;
    destinationTable?: unknown;
    [other: string]: unknown;
  }

  interface QueryRequest extends QueryConfig {
    dryRun?: boolean;
    location?: string;
    labels?: Record<string, string>;
    maxResults?: number;
    requestId?: string;
    formatOptions?: { useInt64Timestamp?: boolean; timestampOutputFormat?: string };
  }

  const held = new HeldJobs();

  /**
   * Runs a query job on the emulator's synchronous jobs.query and keeps it here (held-jobs.ts). A query the
   * engine refused becomes a DONE job with BigQuery's errorResult; a busy store answers 503 (retried).
   */
  const holdQuery = async (
    project: string,
    jobId: string,
    location: string | undefined,
    conf: QueryConfig,
    labels?: Record<string, string>,
  ): Promise<HeldJob | JsonReply> => {
    const u = await call(
      'POST',
      `${PREFIX}/projects/${encodeURIComponent(project)}/queries`,
      JSON.stringify({
        query: conf.query,
        useLegacySql: conf.useLegacySql,
        parameterMode: conf.parameterMode,
        queryParameters: conf.queryParameters,
        defaultDataset: conf.defaultDataset,
        formatOptions: { useInt64Timestamp: true },
      }),
    );
    let failure: HeldJob['failure'];
    let results: Results | undefined;
    if (u.status === 200) {
      results = parseJson<Results>(u.body);
      if (!results)
        return {
          status: 502,
          body: errorBody(502, {
            reason: 'backendError',
            message: `bigquery-emulator answered jobs.query with no JSON: ${u.body.toString('utf8').slice(0, 200)}`,
          }),
        };
    } else {
      const f = queryFailure(u);
      const proto = (f.body as { error?: { errors?: ErrorProto[] } })?.error?.errors?.[0];
      if (f.status === 503 || !proto) return f; // busy, or not a query error: as it came
      failure = { status: f.status, proto };
    }
    const now = String(Date.now());
    const resource: Record<string, unknown> = {
      kind: 'bigquery#job',
      id: `${project}:${location ?? 'US'}.${jobId}`,
      jobReference: { projectId: project, jobId, ...(location ? { location } : {}) },
      configuration: { jobType: 'QUERY', query: { priority: 'INTERACTIVE', ...conf }, ...(labels ? { labels } : {}) },
      statistics: {
        creationTime: now,
        startTime: now,
        endTime: now,
        totalBytesProcessed: '0',
        query: { statementType: statementType(conf.query ?? ''), totalBytesProcessed: '0', cacheHit: false },
      },
      status: failure ? { state: 'DONE', errorResult: failure.proto, errors: [failure.proto] } : { state: 'DONE' },
    };
    const job: HeldJob = {
      resource,
      bytes: u.body.length,
      ...(results ? { results: { schema: results.schema, rows: results.rows, totalRows: results.totalRows } } : {}),
      ...(failure ? { failure } : {}),
    };
    held.put(project, jobId, job);
    return job;
  };

  const isReply = (x: HeldJob | JsonReply): x is JsonReply =>
    'status' in x && typeof (x as JsonReply).status === 'number';

  const jobsQuery = async (
    project: string,
    raw: Buffer,
    params: URLSearchParams,
    req: http.IncomingMessage,
  ): Promise<JsonReply> => {
    const q = parseJson<QueryRequest>(raw);
    const refused = refusedQuery(q?.query);
    if (refused)
      return {
        status: 400,
        body: errorBody(400, { reason: 'invalidQuery', message: refused, location: 'query', domain: 'global' }),
      };
    if (!q || q.dryRun) {
      // Not JSON, or a dry run (the emulator's jobs.query handles those without a job): as it is.
      const u = await call('POST', req.url ?? '', raw);
      return u.status === 200 ? { status: 200, body: parseJson(u.body) ?? u.body.toString('utf8') } : queryFailure(u);
    }
    const jobId = `lookout_query_${randomUUID().replace(/-/g, '')}`;
    // What a QueryRequest carries besides the query's own configuration.
    const {
      dryRun: _dryRun,
      location,
      labels,
      maxResults,
      requestId: _requestId,
      formatOptions: _formatOptions,
      kind: _kind,
      timeoutMs: _timeoutMs,
      ...conf
    } = q;
    const h = await holdQuery(project, jobId, location, conf, labels);
    if (isReply(h)) return h;
    if (h.failure) return { status: h.failure.status, body: errorBody(h.failure.status, h.failure.proto) };
    const all = h.results ?? {};
    const pageParams = new URLSearchParams();
    if (maxResults !== undefined) pageParams.set('maxResults', String(maxResults));
    const page = pageOf(all.rows ?? [], pageParams);
    return {
      status: 200,
      body: {
        kind: 'bigquery#queryResponse',
        jobReference: h.resource.jobReference,
        schema: all.schema,
        ...rowsField(rewriteRows(all.schema?.fields, page.rows, requestedFormat(params, q))),
        totalRows: String(all.totalRows ?? (all.rows ?? []).length),
        ...(page.pageToken ? { pageToken: page.pageToken } : {}),
        totalBytesProcessed: '0',
        jobComplete: true,
        cacheHit: false,
      },
    };
  };

  interface JobInsert {
    jobReference?: { projectId?: string; jobId?: string; location?: string };
    configuration?: { query?: QueryConfig; dryRun?: boolean; labels?: Record<string, string>; [kind: string]: unknown };
  }

  /** jobs.insert: a plain query job is held here; anything else (load, copy, extract, dry run, destination table) goes to the emulator. */
  const jobsInsert = async (project: string, raw: Buffer, pathAndQuery: string): Promise<JsonReply> => {
    const job = parseJson<JobInsert>(raw);
    const conf = job?.configuration?.query;
    const refused = refusedQuery(conf?.query);
    if (refused)
      return {
        status: 400,
        body: errorBody(400, { reason: 'invalidQuery', message: refused, location: 'query', domain: 'global' }),
      };
    if (!job || !conf || job.configuration?.dryRun || conf.destinationTable)
      return jobResource('POST', pathAndQuery, raw);
    const jobId = job.jobReference?.jobId ?? `lookout_job_${randomUUID().replace(/-/g, '')}`;
    if (held.has(project, jobId))
      return {
        status: 409,
        body: errorBody(409, {
          reason: 'duplicate',
          message: `Already Exists: Job ${project}:${jobId}`,
          domain: 'global',
        }),
      };
    const h = await holdQuery(project, jobId, job.jobReference?.location, conf, job.configuration?.labels);
    return isReply(h) ? h : { status: 200, body: h.resource };
  };

  const tabledataList = async (
    project: string,
    dataset: string,
    table: string,
    params: URLSearchParams,
  ): Promise<JsonReply> => {
    const base = `${PREFIX}/projects/${encodeURIComponent(project)}/datasets/${encodeURIComponent(dataset)}/tables/${encodeURIComponent(table)}`;
    const meta = await call('GET', base);
    if (meta.status !== 200) return { status: meta.status, body: parseJson(meta.body) ?? meta.body.toString('utf8') };
    const schema = parseJson<{ schema?: { fields?: Field[] } }>(meta.body)?.schema;
    const u = await call('GET', `${base}/data${forwardQuery(params)}`);
    if (u.status !== 200) return { status: u.status, body: parseJson(u.body) ?? u.body.toString('utf8') };
    const r = parseJson<Results>(u.body) ?? {};
    const page = pageOf(r.rows ?? [], params);
    const sel = selectFields(schema?.fields ?? [], page.rows, params.get('selectedFields'));
    return {
      status: 200,
      body: {
        kind: 'bigquery#tableDataList',
        totalRows: String(r.totalRows ?? (r.rows ?? []).length),
        ...rowsField(rewriteRows(sel.fields, sel.rows, requestedFormat(params))),
        ...(page.pageToken ? { pageToken: page.pageToken } : {}),
      },
    };
  };

  const jobResource = async (method: string, pathAndQuery: string, body?: Buffer): Promise<JsonReply> => {
    const u = await call(method, pathAndQuery, body);
    const parsed = parseJson<Record<string, unknown>>(u.body);
    if (u.status !== 200 || !parsed)
      return u.status === 200 ? { status: 200, body: u.body.toString('utf8') } : queryFailure(u);
    return { status: 200, body: fixJobStatus(parsed) };
  };

  const route = async (req: http.IncomingMessage): Promise<JsonReply | undefined> => {
    const url = new URL(req.url ?? '/', 'http://local');
    const p = apiPath(url.pathname).split('/').map(decodeURIComponent);
    // ['', 'projects', P, ...]
    if (p[1] !== 'projects' || !p[2]) return undefined;
    const project = p[2];
    const insertOrQuery =
      req.method === 'POST' &&
      (p[p.length - 1] === 'insertAll' || (p.length === 4 && (p[3] === 'queries' || p[3] === 'jobs')));
    if (insertOrQuery && opts.holdInsertsWhile && fs.existsSync(opts.holdInsertsWhile)) {
      req.resume();
      return {
        status: 503,
        body: errorBody(503, {
          reason: 'backendError',
          message:
            'the embedded stack is loading its saved rows into bigquery-emulator (lookout up); inserts and queries resume when it is done',
          domain: 'global',
        }),
      };
    }
    if (req.method === 'POST' && p.length === 4 && p[3] === 'queries')
      return jobsQuery(project, await readBody(req), url.searchParams, req);
    if (req.method === 'GET' && p.length === 5 && p[3] === 'queries')
      return getQueryResults(project, p[4], url.searchParams);
    if (req.method === 'GET' && p.length === 8 && p[3] === 'datasets' && p[5] === 'tables' && p[7] === 'data')
      return tabledataList(project, p[4], p[6], url.searchParams);
    if (req.method === 'POST' && p.length === 4 && p[3] === 'jobs')
      return jobsInsert(project, await readBody(req), `${PREFIX}${apiPath(url.pathname)}${url.search}`);
    const heldJob = p[3] === 'jobs' && p[4] ? held.get(project, p[4]) : undefined;
    if (heldJob) {
      if (req.method === 'GET' && p.length === 5) return { status: 200, body: heldJob.resource };
      if (req.method === 'POST' && p.length === 6 && p[5] === 'cancel')
        return { status: 200, body: { kind: 'bigquery#jobCancelResponse', job: heldJob.resource } };
      if (req.method === 'DELETE' && p.length === 6 && p[5] === 'delete') {
        req.resume();
        held.delete(project, p[4]);
        return { status: 200, body: {} };
      }
    }
    if (req.method === 'GET' && p.length === 5 && p[3] === 'jobs')
      return jobResource('GET', `${PREFIX}${apiPath(url.pathname)}${url.search}`);
    return undefined;
  };

  const server = http.createServer((req, res) => {
    if (opts.verbose) {
      const t0 = Date.now();
      res.on('finish', () => log(`${req.method} ${req.url} -> ${res.statusCode} (${Date.now() - t0} ms)`));
    }
    route(req).then(
      (reply) => {
        if (reply) send(res, reply);
        else pipe(req, res);
      },
      (err: unknown) => {
        log(
          `${req.method} ${req.url}: ${err instanceof Error ? `${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ''}` : String(err)}`,
        );
        if (res.headersSent) res.destroy();
        else if (err instanceof EmulatorUnavailableError) send(res, unavailable(upstream, err, opts.emulatorLog));
        else
          send(res, {
            status: 500,
            body: errorBody(500, {
              reason: 'internalError',
              message: `bigquery-api: ${err instanceof Error ? err.message : String(err)}`,
            }),
          });
      },
    );
  });
  server.on('close', () => agent.destroy());
  return server;
}

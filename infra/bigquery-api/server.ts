/**
 * The BigQuery REST endpoint of the embedded stack: a small HTTP front of bigquery-emulator that makes the
 * official clients (google-cloud-bigquery for Python, @google-cloud/bigquery for Node, and Lookout itself)
 * work against it unchanged. It passes every request through to the emulator and changes only what
 * ./wire.ts describes, on four calls:
 *   jobs.query        runs as jobs.insert + getQueryResults, so the job it names exists afterwards (the
 *                     emulator's own jobs.query records no job: the Python client's api_method="QUERY" got 404)
 *   getQueryResults   timestamps as asked, pages, query errors as invalidQuery / notFound
 *   tabledata.list    timestamps as asked (with the table's schema), pages, selectedFields
 *   jobs.insert/get   a failed query job's errorResult as invalidQuery / notFound; a query that would make
 *                     the emulator exit is refused (wire.ts refusedQuery)
 * Everything else (datasets, tables, insertAll, uploads) streams through untouched.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { fixJobStatus, errorBody, isEmulatorQueryError, pageOf, queryError, refusedQuery, requestedFormat, rewriteRows, selectFields, type ErrorProto, type Field, type Row } from './wire';

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
   * While this file exists, insertAll is answered 503 (the writers retry): `lookout up` is loading the row
   * journal into a fresh emulator, and a retried write must find its journaled copy, not race it.
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
const FORMAT_PARAMS = ['formatOptions.useInt64Timestamp', 'formatOptions.timestampOutputFormat', 'maxResults', 'pageToken', 'startIndex', 'selectedFields'];
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
        { host: upstream.hostname, port: upstream.port, method, path: pathAndQuery, agent, headers: { 'content-type': 'application/json', 'accept-encoding': 'identity', ...(body ? { 'content-length': Buffer.byteLength(body) } : {}) } },
        (res) => {
          readBody(res).then((b) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: b }), reject);
        },
      );
      req.on('error', (err) => reject(new EmulatorUnavailableError(`bigquery-emulator at ${upstream.host} did not answer ${method} ${pathAndQuery}`, { cause: err })));
      if (body) req.write(body);
      req.end();
    });

  /** Streams a request through unchanged. */
  const pipe = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, agent, headers: { ...req.headers, host: upstream.host } }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', (err) => {
      log(`pass-through ${req.method} ${req.url}: ${err.message}`);
      if (!res.headersSent) send(res, unavailable(upstream, err, opts.emulatorLog));
      else res.destroy(err);
    });
    req.pipe(up);
  };

  const send = (res: http.ServerResponse, r: JsonReply) => {
    const text = JSON.stringify(r.body);
    res.writeHead(r.status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
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

  const getQueryResults = async (project: string, jobId: string, params: URLSearchParams): Promise<JsonReply> => {
    const u = await call('GET', `${PREFIX}/projects/${encodeURIComponent(project)}/queries/${encodeURIComponent(jobId)}${forwardQuery(params)}`);
    if (u.status !== 200) return queryFailure(u);
    const r = parseJson<Results>(u.body);
    if (!r) return { status: u.status, body: u.body.toString('utf8') };
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

  interface QueryRequest {
    query?: string;
    useLegacySql?: boolean;
    parameterMode?: string;
    queryParameters?: unknown[];
    defaultDataset?: unknown;
    useQueryCache?: boolean;
    dryRun?: boolean;
    location?: string;
    labels?: Record<string, string>;
    maxResults?: number;
    requestId?: string;
    formatOptions?: { useInt64Timestamp?: boolean; timestampOutputFormat?: string };
  }

  const jobsQuery = async (project: string, raw: Buffer, params: URLSearchParams, req: http.IncomingMessage): Promise<JsonReply> => {
    const q = parseJson<QueryRequest>(raw);
    const refused = refusedQuery(q?.query);
    if (refused) return { status: 400, body: errorBody(400, { reason: 'invalidQuery', message: refused, location: 'query', domain: 'global' }) };
    if (!q || q.dryRun) {
      // Not JSON, or a dry run (the emulator's jobs.query handles those without a job): as it is.
      const u = await call('POST', req.url ?? '', raw);
      return u.status === 200 ? { status: 200, body: parseJson(u.body) ?? u.body.toString('utf8') } : queryFailure(u);
    }
    const jobId = `lookout_query_${randomUUID().replace(/-/g, '')}`;
    const job = {
      jobReference: { projectId: project, jobId, ...(q.location ? { location: q.location } : {}) },
      configuration: {
        query: { query: q.query, useLegacySql: q.useLegacySql, parameterMode: q.parameterMode, queryParameters: q.queryParameters, defaultDataset: q.defaultDataset, useQueryCache: q.useQueryCache },
        ...(q.labels ? { labels: q.labels } : {}),
      },
    };
    const ins = await call('POST', `${PREFIX}/projects/${encodeURIComponent(project)}/jobs`, JSON.stringify(job));
    if (ins.status !== 200) return queryFailure(ins);
    const created = fixJobStatus(parseJson<{ status?: { errorResult?: ErrorProto }; configuration?: { query?: unknown }; statistics?: { totalBytesProcessed?: string } }>(ins.body) ?? {});
    if (created.status?.errorResult) {
      const { status, proto } = queryError(created.status.errorResult.message ?? '');
      return { status, body: errorBody(status, proto) };
    }
    const pageParams = new URLSearchParams();
    if (q.maxResults !== undefined) pageParams.set('maxResults', String(q.maxResults));
    const u = await call('GET', `${PREFIX}/projects/${encodeURIComponent(project)}/queries/${encodeURIComponent(jobId)}${forwardQuery(new URLSearchParams())}`);
    if (u.status !== 200) return queryFailure(u);
    const all = parseJson<Results>(u.body) ?? {};
    const page = pageOf(all.rows ?? [], pageParams);
    return {
      status: 200,
      body: {
        kind: 'bigquery#queryResponse',
        jobReference: { projectId: project, jobId, ...(q.location ? { location: q.location } : {}) },
        schema: all.schema,
        ...rowsField(rewriteRows(all.schema?.fields, page.rows, requestedFormat(params, q))),
        totalRows: String(all.totalRows ?? (all.rows ?? []).length),
        ...(page.pageToken ? { pageToken: page.pageToken } : {}),
        totalBytesProcessed: created.statistics?.totalBytesProcessed ?? '0',
        jobComplete: true,
        cacheHit: false,
      },
    };
  };

  const tabledataList = async (project: string, dataset: string, table: string, params: URLSearchParams): Promise<JsonReply> => {
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
    if (u.status !== 200 || !parsed) return u.status === 200 ? { status: 200, body: u.body.toString('utf8') } : queryFailure(u);
    return { status: 200, body: fixJobStatus(parsed) };
  };

  const route = async (req: http.IncomingMessage): Promise<JsonReply | undefined> => {
    const url = new URL(req.url ?? '/', 'http://local');
    const p = apiPath(url.pathname).split('/').map(decodeURIComponent);
    // ['', 'projects', P, ...]
    if (p[1] !== 'projects' || !p[2]) return undefined;
    const project = p[2];
    if (req.method === 'POST' && p[p.length - 1] === 'insertAll' && opts.holdInsertsWhile && fs.existsSync(opts.holdInsertsWhile)) {
      req.resume();
      return { status: 503, body: errorBody(503, { reason: 'backendError', message: 'the embedded stack is loading its saved rows into bigquery-emulator (lookout up); inserts resume when it is done', domain: 'global' }) };
    }
    if (req.method === 'POST' && p.length === 4 && p[3] === 'queries') return jobsQuery(project, await readBody(req), url.searchParams, req);
    if (req.method === 'GET' && p.length === 5 && p[3] === 'queries') return getQueryResults(project, p[4], url.searchParams);
    if (req.method === 'GET' && p.length === 8 && p[3] === 'datasets' && p[5] === 'tables' && p[7] === 'data') return tabledataList(project, p[4], p[6], url.searchParams);
    if (req.method === 'POST' && p.length === 4 && p[3] === 'jobs') {
      const body = await readBody(req);
      const refused = refusedQuery(parseJson<{ configuration?: { query?: { query?: string } } }>(body)?.configuration?.query?.query);
      if (refused) return { status: 400, body: errorBody(400, { reason: 'invalidQuery', message: refused, location: 'query', domain: 'global' }) };
      return jobResource('POST', `${PREFIX}${apiPath(url.pathname)}${url.search}`, body);
    }
    if (req.method === 'GET' && p.length === 5 && p[3] === 'jobs') return jobResource('GET', `${PREFIX}${apiPath(url.pathname)}${url.search}`);
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
        log(`${req.method} ${req.url}: ${err instanceof Error ? `${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ''}` : String(err)}`);
        if (res.headersSent) res.destroy();
        else if (err instanceof EmulatorUnavailableError) send(res, unavailable(upstream, err, opts.emulatorLog));
        else send(res, { status: 500, body: errorBody(500, { reason: 'internalError', message: `bigquery-api: ${err instanceof Error ? err.message : String(err)}` }) });
      },
    );
  });
  server.on('close', () => agent.destroy());
  return server;
}

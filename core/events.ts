/**
 * The object event: one per finalized object version. Its fields are those of
 * the GCS object notification (JSON_API_V1 payload), whichever source produced it
 * (Pub/Sub push, Eventarc CloudEvent, bucket watcher or backfill).
 */

export type EventSource = 'push' | 'cloudevent' | 'pubsub' | 'watcher' | 'backfill' | 'loadtest' | 'retry' | 'replay';
const SOURCES: readonly EventSource[] = [
  'push',
  'cloudevent',
  'pubsub',
  'watcher',
  'backfill',
  'loadtest',
  'retry',
  'replay',
];

export interface ObjectEvent {
  eventType: 'OBJECT_FINALIZE';
  bucket: string;
  name: string;
  /** Decimal string, as in GCS notifications (fits a JS number today, kept as text to stay exact). */
  generation: string;
  /** Decimal string of bytes. */
  size: string;
  contentType?: string;
  timeCreated: string;
  md5Hash?: string;
  crc32c?: string;
  metadata?: Record<string, string>;
  /** Where the event came from. */
  source: EventSource;
  /** When Lookout published it onto the stream (ISO 8601). */
  publishedAt: string;
}

export type Validation<T> = { ok: true; value: T } | { ok: false; reason: string };

const BUCKET_RE = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function decimal(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'string' && /^\d{1,20}$/.test(v)) return v.replace(/^0+(?=\d)/, '');
  return undefined;
}

function isoTime(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.length > 40) return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? new Date(t).toISOString() : undefined;
}

/**
 * Validates and normalises anything that claims to be an object event (or a bare
 * GCS object resource / notification payload plus the envelope fields).
 */
export function validateObjectEvent(
  input: unknown,
  defaults: Partial<Pick<ObjectEvent, 'source' | 'publishedAt'>> = {},
): Validation<ObjectEvent> {
  if (!isRecord(input)) return { ok: false, reason: 'event is not a JSON object' };
  const bad = (field: string, why: string): Validation<ObjectEvent> => ({
    ok: false,
    reason: `field "${field}" ${why}`,
  });

  const eventType = input.eventType ?? 'OBJECT_FINALIZE';
  if (eventType !== 'OBJECT_FINALIZE')
    return bad('eventType', `is ${JSON.stringify(eventType)}; only OBJECT_FINALIZE is analysed`);
  const bucket = input.bucket;
  if (typeof bucket !== 'string' || !BUCKET_RE.test(bucket))
    return bad('bucket', 'is missing or not a valid bucket name');
  const name = input.name;
  if (typeof name !== 'string' || name.length === 0) return bad('name', 'is missing or empty');
  if (Buffer.byteLength(name, 'utf8') > 1024) return bad('name', 'is longer than 1024 bytes');
  if (/[\u0000-\u001f\u007f]/.test(name)) return bad('name', 'contains control characters');
  const generation = decimal(input.generation);
  if (!generation || generation === '0') return bad('generation', 'is missing or not a positive decimal integer');
  const size = decimal(input.size);
  if (size === undefined) return bad('size', 'is missing or not a non-negative decimal integer');
  const timeCreated = isoTime(input.timeCreated);
  if (!timeCreated) return bad('timeCreated', 'is missing or not an RFC 3339 timestamp');
  if (input.contentType !== undefined && typeof input.contentType !== 'string')
    return bad('contentType', 'is not a string');
  for (const f of ['md5Hash', 'crc32c'] as const) {
    const v = input[f];
    if (v !== undefined && (typeof v !== 'string' || !/^[A-Za-z0-9+/=]{1,64}$/.test(v)))
      return bad(f, 'is not base64 text');
  }
  let metadata: Record<string, string> | undefined;
  if (input.metadata !== undefined && input.metadata !== null) {
    if (!isRecord(input.metadata)) return bad('metadata', 'is not an object of strings');
    metadata = {};
    for (const [k, v] of Object.entries(input.metadata)) {
      if (typeof v !== 'string') return bad(`metadata.${k}`, 'is not a string');
      metadata[k] = v;
    }
  }
  const source = (input.source ?? defaults.source) as EventSource | undefined;
  if (!source || !SOURCES.includes(source)) return bad('source', `must be one of ${SOURCES.join(', ')}`);
  const publishedAt = isoTime(input.publishedAt ?? defaults.publishedAt ?? new Date().toISOString());
  if (!publishedAt) return bad('publishedAt', 'is not an RFC 3339 timestamp');

  const ev: ObjectEvent = {
    eventType: 'OBJECT_FINALIZE',
    bucket,
    name,
    generation,
    size,
    timeCreated,
    source,
    publishedAt,
  };
  if (typeof input.contentType === 'string') ev.contentType = input.contentType;
  if (typeof input.md5Hash === 'string') ev.md5Hash = input.md5Hash;
  if (typeof input.crc32c === 'string') ev.crc32c = input.crc32c;
  if (metadata) ev.metadata = metadata;
  return { ok: true, value: ev };
}

/** Identity of one object version: bucket/name#generation. Used as Nats-Msg-Id and in workflow IDs. */
export function objectKey(ev: Pick<ObjectEvent, 'bucket' | 'name' | 'generation'>): string {
  return `${ev.bucket}/${ev.name}#${ev.generation}`;
}

/** Deterministic workflow ID: one analysis per pipeline and object version. */
export function workflowIdFor(pipeline: string, ev: Pick<ObjectEvent, 'bucket' | 'name' | 'generation'>): string {
  return `${pipeline}:${objectKey(ev)}`;
}

/**
 * Deterministic workflow ID of a change analysis of `after` against `before` (pairing by place and time): one per
 * pair of object versions, so a pair asked for twice (two acquisitions arriving together both see it) runs once.
 */
export function pairWorkflowId(
  pipeline: string,
  after: Pick<ObjectEvent, 'bucket' | 'name' | 'generation'>,
  before: Pick<ObjectEvent, 'bucket' | 'name' | 'generation'>,
): string {
  return `${pipeline}:${objectKey(after)}<${objectKey(before)}`;
}

/** A `.json` object (or JSON content type): read as a STAC Item by the raster pipeline (docs/stac.md). */
export function isStacJsonName(name: string, contentType?: string): boolean {
  return /\.json$/i.test(name) || /^application\/(geo\+)?json\b/i.test(contentType ?? '');
}

/** catalog.json / collection.json (STAC best-practice names): walked by `lookout backfill`, never analysed alone. */
export function isStacCatalogName(name: string): boolean {
  return /(^|\/)(catalog|collection)\.json$/i.test(name);
}

/** NATS subject token for a bucket ('.' is the subject separator, so it is escaped). */
export function bucketToken(bucket: string): string {
  return bucket.replace(/\./g, '_');
}

/** Builds an event from a GCS object resource (as returned by the JSON API listing or a notification). */
export function eventFromObjectResource(
  obj: {
    bucket?: string;
    name?: string;
    generation?: string | number;
    size?: string | number;
    contentType?: string;
    timeCreated?: string;
    md5Hash?: string;
    crc32c?: string;
    metadata?: Record<string, unknown> | null;
  },
  source: EventSource,
): Validation<ObjectEvent> {
  return validateObjectEvent({ ...obj, eventType: 'OBJECT_FINALIZE', source, publishedAt: new Date().toISOString() });
}

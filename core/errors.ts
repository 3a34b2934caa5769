/**
 * Named errors. Bad input is never retried: it ends as a failed row with a
 * stable error class. Everything else is a passing fault and is retried with
 * backoff by Temporal.
 */
export class LookoutError extends Error {
  /** Stable class written to the result row's error_class. */
  readonly errorClass: string;
  readonly retryable: boolean;
  constructor(errorClass: string, message: string, opts: { retryable: boolean; cause?: unknown }) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = errorClass;
    this.errorClass = errorClass;
    this.retryable = opts.retryable;
  }
}

/** The input itself is unusable: retrying cannot help. */
export class BadInputError extends LookoutError {
  constructor(errorClass: BadInputClass, message: string, cause?: unknown) {
    super(errorClass, message, { retryable: false, cause });
  }
}

export const BAD_INPUT_CLASSES = [
  'EmptyObject',
  'ObjectTooLarge',
  'TooManyPixels',
  'NotAnImage',
  'CorruptImage',
  'UnsupportedMedia',
  'ObjectNotFound',
  'GenerationMismatch',
  // Rasters (media/raster.ts). A georeference problem is not among them: such a raster still yields
  // chips with pixel windows, flagged, so those are reported on the rows rather than thrown.
  /** Compression, sample format or bit depth that the raster reader does not decode. */
  'UnsupportedRaster',
  /** The header promises data (tiles, strips, tag arrays) past the end of the object. */
  'TruncatedRaster',
  /** A tile or strip failed to decode, or the header contradicts itself. */
  'CorruptRaster',
  /** 0 bands, or more bands than the reader's limit. */
  'BadBandCount',
  /** One tile or strip would decode to more bytes than the reader's memory bound. */
  'RasterBlockTooLarge',
  /** Two acquisitions compared chip by chip do not share one pixel grid (size, transform or CRS differ). */
  'NotCoRegistered',
  /** Raster pipeline: metadata lookout-before names an object that does not exist. */
  'BeforeNotFound',
  /** Raster pipeline: metadata lookout-bands / lookout-chip-size / lookout-chip-overlap is not usable. */
  'BadBandNames',
  'BadRasterOptions',
  /** Raster pipeline: metadata lookout-classifier names a chip classifier the model repository does not declare. */
  'UnknownClassifier',
  /** Raster pipeline: metadata lookout-backbone names no usable backbone variant. */
  'UnknownBackbone',
  /** The raster's CRS cannot be expressed for proj4js (media/crs.ts): footprints cannot be computed (pixel windows still can). */
  'UnsupportedCrs',
  'InvalidGeneration',
  'InvalidObjectReference',
  // STAC items (media/stac.ts): the error message names the asset and why.
  /** A JSON object that is not a STAC Item (not JSON, not a Feature, a Catalog or Collection, no assets). */
  'NotStacItem',
  /** A STAC Item whose fields Lookout reads are malformed (datetime, bbox, bands). */
  'BadStacItem',
  /** A band asset the item names does not exist (or the item names no band asset at all). */
  'StacAssetMissing',
  /** A band asset exists but cannot be read as a raster (not a GeoTIFF, corrupt, an href Lookout cannot read). */
  'StacAssetUnreadable',
  /** Band assets of one item disagree: another CRS, a footprint that does not cover the item's grid, or the item's bbox. */
  'StacAssetMismatch',
] as const;
export type BadInputClass = (typeof BAD_INPUT_CLASSES)[number];

/** A raster's coordinate reference system has no proj4 definition (media/crs.ts says why). */
export class UnsupportedCrsError extends BadInputError {
  constructor(
    readonly crs: string,
    message: string,
    cause?: unknown,
  ) {
    super('UnsupportedCrs', message, cause);
  }
}

/** A dependency (storage, model runtime) failed in a way that may pass. */
export class TransientError extends LookoutError {
  constructor(errorClass: string, message: string, cause?: unknown) {
    super(errorClass, message, { retryable: true, cause });
  }
}

/** Configuration or deployment problem (e.g. a model or an execution provider missing): not the input's fault, not retried. */
export class SetupError extends LookoutError {
  constructor(errorClass: string, message: string, cause?: unknown) {
    super(errorClass, message, { retryable: false, cause });
  }
}

/**
 * An event names a pipeline Lookout does not have (metadata `lookout-pipeline`). The uploader's fault, not a
 * passing one: the event is dead-lettered at once with this reason.
 */
export class UnknownPipelineError extends LookoutError {
  constructor(
    readonly pipeline: string,
    known: readonly string[],
  ) {
    super('UnknownPipeline', `unknown pipeline ${JSON.stringify(pipeline)} (known: ${known.join(', ')})`, {
      retryable: false,
    });
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
]);
const TRANSIENT_HTTP = new Set([408, 429, 500, 502, 503, 504]);

/** The one retry decision: pure and replaceable. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof LookoutError) return err.retryable;
  const e = err as { code?: unknown; status?: unknown; cause?: unknown };
  if (typeof e?.code === 'string' && TRANSIENT_CODES.has(e.code)) return true;
  const http = typeof e?.code === 'number' ? e.code : typeof e?.status === 'number' ? e.status : undefined;
  if (http !== undefined) return TRANSIENT_HTTP.has(http);
  // Unknown errors: retry (bounded by the activity's retry policy), so a bug does not drop work silently.
  return true;
}

export function errorClassOf(err: unknown): string {
  if (err instanceof LookoutError) return err.errorClass;
  if (err instanceof Error) return err.name || 'Error';
  return 'UnknownError';
}

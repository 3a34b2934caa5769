/**
 * Reading objects by reference (bucket, name, generation). Workers download
 * what they analyse; only references travel through Temporal.
 */
import type { File, Storage } from '@google-cloud/storage';
import { BadInputError, TransientError } from '../core/errors';
import type { ObjectRef } from '../core/types';
import type { RangeSource } from '../media/raster';
import { gcsRangeSource } from './rangesource';

export interface ObjectStore {
  /** Downloads exactly the referenced generation, refusing objects over maxBytes. */
  download(ref: Pick<ObjectRef, 'bucket' | 'name' | 'generation'>, maxBytes: number): Promise<Buffer>;
  /**
   * The same checks, streamed into a local file instead of memory (videos: an hour of camera footage is
   * hundreds of MB, which a worker should not hold in its heap while ffmpeg reads the file).
   */
  downloadToFile?(
    ref: Pick<ObjectRef, 'bucket' | 'name' | 'generation'>,
    destination: string,
    maxBytes: number,
  ): Promise<void>;
  upload(
    bucket: string,
    name: string,
    data: Buffer,
    contentType: string,
    metadata?: Record<string, string>,
  ): Promise<void>;
  /** Byte ranges of one generation (rasters are read by ranges, never whole). */
  rangeSource?(ref: Pick<ObjectRef, 'bucket' | 'name' | 'generation'>): Promise<RangeSource & { generation: string }>;
  /** Writes only if the object is still at `generation` ('0': does not exist yet); false when another writer won. */
  uploadIfGeneration?(bucket: string, name: string, data: Buffer, generation: string): Promise<boolean>;
  /** Metadata of the live generation of an object, or null when there is none (pairing a before acquisition). */
  stat?(
    bucket: string,
    name: string,
  ): Promise<{ generation: string; size: number; timeCreated: string; contentType?: string } | null>;
  /** Names (with their live generation) under a prefix, in name order. */
  list?(bucket: string, prefix: string): Promise<Array<{ name: string; generation: string }>>;
  /** Deletes an object; one already gone is fine. */
  remove?(bucket: string, name: string): Promise<void>;
}

function httpCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

/**
 * GCS generations are int64 (microsecond timestamps in practice, below 2^53 until the year 2255). The Node
 * client sends a generation as a JavaScript number, so one over 2^53 would silently become another
 * generation; one over int64 is refused by GCS with 400 (which used to be retried 5 times as a
 * StorageError). Either is the reference's fault: refused here, once, as bad input.
 */
function checkGeneration(ref: Pick<ObjectRef, 'bucket' | 'name' | 'generation'>): void {
  if (!/^\d{1,20}$/.test(ref.generation) || BigInt(ref.generation) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new BadInputError(
      'InvalidGeneration',
      `gs://${ref.bucket}/${ref.name}: generation ${JSON.stringify(ref.generation.slice(0, 40))} is not a generation GCS can have`,
    );
  }
}

/** The file handle of exactly this generation, after checking it exists, is that generation, and fits maxBytes. */
async function checkedFile(
  storage: Storage,
  ref: Pick<ObjectRef, 'bucket' | 'name' | 'generation'>,
  maxBytes: number,
): Promise<File> {
  checkGeneration(ref);
  // Generation '0' means the live version (used for derived objects such as KEY_d3/KEY_p3 and features).
  const latest = ref.generation === '0';
  const file = latest
    ? storage.bucket(ref.bucket).file(ref.name)
    : storage.bucket(ref.bucket).file(ref.name, { generation: Number(ref.generation) });
  let size: number;
  try {
    const [meta] = await file.getMetadata();
    if (!latest && meta.generation !== undefined && String(meta.generation) !== String(ref.generation)) {
      throw new BadInputError(
        'GenerationMismatch',
        `gs://${ref.bucket}/${ref.name} is at generation ${meta.generation}, not ${ref.generation}`,
      );
    }
    size = Number(meta.size ?? 0);
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    if (httpCode(err) === 404)
      throw new BadInputError(
        'ObjectNotFound',
        `gs://${ref.bucket}/${ref.name}#${ref.generation} no longer exists`,
        err,
      );
    // 400: the request, built from the reference alone, is malformed; asking again cannot help.
    if (httpCode(err) === 400)
      throw new BadInputError(
        'InvalidObjectReference',
        `gs://${ref.bucket}/${ref.name}#${ref.generation}: storage refused the reference: ${(err as Error).message}`,
        err,
      );
    throw new TransientError(
      'StorageError',
      `reading metadata of gs://${ref.bucket}/${ref.name}: ${(err as Error).message}`,
      err,
    );
  }
  if (size > maxBytes)
    throw new BadInputError('ObjectTooLarge', `object is ${size} bytes, over the limit of ${maxBytes}`);
  if (size === 0) throw new BadInputError('EmptyObject', 'object is empty (0 bytes)');
  return file;
}

function downloadError(ref: Pick<ObjectRef, 'bucket' | 'name' | 'generation'>, err: unknown): Error {
  if (httpCode(err) === 404)
    return new BadInputError(
      'ObjectNotFound',
      `gs://${ref.bucket}/${ref.name}#${ref.generation} no longer exists`,
      err,
    );
  return new TransientError(
    'StorageError',
    `downloading gs://${ref.bucket}/${ref.name}: ${(err as Error).message}`,
    err,
  );
}

export function gcsObjectStore(storage: Storage): ObjectStore {
  return {
    async download(ref, maxBytes) {
      const file = await checkedFile(storage, ref, maxBytes);
      try {
        const [buf] = await file.download({ validation: false });
        return buf;
      } catch (err) {
        throw downloadError(ref, err);
      }
    },
    async downloadToFile(ref, destination, maxBytes) {
      const file = await checkedFile(storage, ref, maxBytes);
      try {
        await file.download({ validation: false, destination });
      } catch (err) {
        throw downloadError(ref, err);
      }
    },
    async upload(bucket, name, data, contentType, metadata) {
      await storage
        .bucket(bucket)
        .file(name)
        .save(data, { contentType, resumable: false, metadata: metadata ? { metadata } : undefined });
    },
    rangeSource: (ref) => gcsRangeSource(storage, ref),
    async list(bucket, prefix) {
      const [files] = await storage.bucket(bucket).getFiles({ prefix });
      return files
        .map((f) => ({ name: f.name, generation: String(f.metadata.generation ?? '0') }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
    async remove(bucket, name) {
      await storage.bucket(bucket).file(name).delete({ ignoreNotFound: true });
    },
    async uploadIfGeneration(bucket, name, data, generation) {
      try {
        await storage
          .bucket(bucket)
          .file(name)
          .save(data, {
            resumable: false,
            contentType: 'application/octet-stream',
            preconditionOpts: { ifGenerationMatch: Number(generation) },
          });
        return true;
      } catch (err) {
        if (httpCode(err) === 412) return false;
        throw new TransientError('StorageError', `writing gs://${bucket}/${name}: ${(err as Error).message}`, err);
      }
    },
    async stat(bucket, name) {
      try {
        const [meta] = await storage.bucket(bucket).file(name).getMetadata();
        return {
          generation: String(meta.generation),
          size: Number(meta.size ?? 0),
          timeCreated: String(meta.timeCreated ?? ''),
          contentType: meta.contentType,
        };
      } catch (err) {
        if (httpCode(err) === 404) return null;
        throw new TransientError(
          'StorageError',
          `reading metadata of gs://${bucket}/${name}: ${(err as Error).message}`,
          err,
        );
      }
    },
  };
}

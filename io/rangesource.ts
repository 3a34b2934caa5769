/**
 * A media/raster.ts RangeSource over one object generation in Cloud Storage: the raster reader asks for
 * byte ranges and only those are downloaded (ranged GETs), so a 2-gigapixel COG never comes whole into a
 * worker. The generation is pinned, so a raster replaced mid-analysis cannot mix two versions' bytes.
 */
import type { Storage } from '@google-cloud/storage';
import { BadInputError, TransientError } from '../core/errors';
import type { ObjectRef } from '../core/types';
import type { RangeSource } from '../media/raster';

function httpCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

/** Reads the object's size and generation once, then serves ranges; errors keep the storage classes (ObjectNotFound, GenerationMismatch, StorageError). */
export async function gcsRangeSource(
  storage: Storage,
  ref: Pick<ObjectRef, 'bucket' | 'name' | 'generation'>,
): Promise<RangeSource & { generation: string }> {
  const where = `gs://${ref.bucket}/${ref.name}`;
  const latest = ref.generation === '0';
  let file = latest
    ? storage.bucket(ref.bucket).file(ref.name)
    : storage.bucket(ref.bucket).file(ref.name, { generation: Number(ref.generation) });
  let size: number;
  let generation: string;
  try {
    const [meta] = await file.getMetadata();
    generation = String(meta.generation ?? ref.generation);
    if (!latest && generation !== String(ref.generation))
      throw new BadInputError('GenerationMismatch', `${where} is at generation ${generation}, not ${ref.generation}`);
    size = Number(meta.size ?? 0);
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    if (httpCode(err) === 404)
      throw new BadInputError('ObjectNotFound', `${where}#${ref.generation} no longer exists`, err);
    throw new TransientError('StorageError', `reading metadata of ${where}: ${(err as Error).message}`, err);
  }
  // Pin the generation the metadata named, also when the caller asked for the live one.
  if (latest && generation !== '0')
    file = storage.bucket(ref.bucket).file(ref.name, { generation: Number(generation) });
  return {
    size,
    generation,
    name: where,
    read: async (offset, length) => {
      const end = Math.min(size, offset + length) - 1;
      if (end < offset) return Buffer.alloc(0);
      try {
        // `end` is inclusive; validation off because a range has no whole-object checksum to verify.
        const [buf] = await file.download({ start: offset, end, validation: false });
        return buf;
      } catch (err) {
        if (httpCode(err) === 404)
          throw new BadInputError('ObjectNotFound', `${where}#${generation} no longer exists`, err);
        throw new TransientError(
          'StorageError',
          `reading bytes ${offset}-${end} of ${where}: ${(err as Error).message}`,
          err,
        );
      }
    },
  };
}

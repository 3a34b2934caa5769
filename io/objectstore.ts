/**
 * Reading objects by reference (bucket, name, generation). Workers download
 * what they analyse; only references travel through Temporal.
 */
import type { Storage } from '@google-cloud/storage';
import { BadInputError, TransientError } from '../core/errors';
import type { ObjectRef } from '../core/types';

export interface ObjectStore {
  /** Downloads exactly the referenced generation, refusing objects over maxBytes. */
  download(ref: Pick<ObjectRef, 'bucket' | 'name' | 'generation'>, maxBytes: number): Promise<Buffer>;
  upload(bucket: string, name: string, data: Buffer, contentType: string, metadata?: Record<string, string>): Promise<void>;
}

function httpCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

export function gcsObjectStore(storage: Storage): ObjectStore {
  return {
    async download(ref, maxBytes) {
      // Generation '0' means the live version (used for derived objects such as KEY_d3/KEY_p3 and features).
      const latest = ref.generation === '0';
      const file = latest ? storage.bucket(ref.bucket).file(ref.name) : storage.bucket(ref.bucket).file(ref.name, { generation: Number(ref.generation) });
      let size: number;
      try {
        const [meta] = await file.getMetadata();
        if (!latest && meta.generation !== undefined && String(meta.generation) !== String(ref.generation)) {
          throw new BadInputError('GenerationMismatch', `gs://${ref.bucket}/${ref.name} is at generation ${meta.generation}, not ${ref.generation}`);
        }
        size = Number(meta.size ?? 0);
      } catch (err) {
        if (err instanceof BadInputError) throw err;
        if (httpCode(err) === 404) throw new BadInputError('ObjectNotFound', `gs://${ref.bucket}/${ref.name}#${ref.generation} no longer exists`, err);
        throw new TransientError('StorageError', `reading metadata of gs://${ref.bucket}/${ref.name}: ${(err as Error).message}`, err);
      }
      if (size > maxBytes) throw new BadInputError('ObjectTooLarge', `object is ${size} bytes, over the limit of ${maxBytes}`);
      if (size === 0) throw new BadInputError('EmptyObject', 'object is empty (0 bytes)');
      try {
        const [buf] = await file.download({ validation: false });
        return buf;
      } catch (err) {
        if (httpCode(err) === 404) throw new BadInputError('ObjectNotFound', `gs://${ref.bucket}/${ref.name}#${ref.generation} no longer exists`, err);
        throw new TransientError('StorageError', `downloading gs://${ref.bucket}/${ref.name}: ${(err as Error).message}`, err);
      }
    },
    async upload(bucket, name, data, contentType, metadata) {
      await storage.bucket(bucket).file(name).save(data, { contentType, resumable: false, metadata: metadata ? { metadata } : undefined });
    },
  };
}

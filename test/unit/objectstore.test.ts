/**
 * Reading an object by reference: a generation GCS cannot take is the reference's fault, so it fails once
 * as bad input (one failed row), not five times as a passing StorageError. The fake answers as
 * fake-gcs-server and GCS do (400 "invalid generation ID" for a generation over int64).
 */
import type { Storage } from '@google-cloud/storage';
import { describe, expect, it } from 'vitest';
import { toFailure } from '../../activities/stage';
import { BadInputError, isRetryable } from '../../core/errors';
import { gcsObjectStore } from '../../io/objectstore';

const INT64_MAX = 9223372036854775807n;

function fakeStorage(current: string) {
  const calls: string[] = [];
  const storage = {
    bucket: () => ({
      file: (_name: string, opts?: { generation?: number }) => ({
        getMetadata: async () => {
          calls.push(`meta:${opts?.generation}`);
          const g = opts?.generation;
          if (g !== undefined && BigInt(Math.trunc(g)) > INT64_MAX) throw Object.assign(new Error('invalid generation ID'), { code: 400 });
          if (g !== undefined && String(g) !== current) throw Object.assign(new Error('No such object'), { code: 404 });
          return [{ generation: current, size: '3' }];
        },
        download: async () => {
          calls.push('download');
          return [Buffer.from('abc')];
        },
      }),
    }),
  } as unknown as Storage;
  return { storage, calls };
}

async function failure(p: Promise<unknown>): Promise<BadInputError> {
  try {
    await p;
  } catch (err) {
    return err as BadInputError;
  }
  throw new Error('expected a failure');
}

describe('gcsObjectStore.download', () => {
  it('reads the referenced generation', async () => {
    const { storage } = fakeStorage('1796098282271259');
    expect((await gcsObjectStore(storage).download({ bucket: 'b', name: 'a.jpg', generation: '1796098282271259' }, 100)).toString()).toBe('abc');
  });

  it.each(['99999999999999999999', '9223372036854775808', '9007199254740993'])('generation %s fails once as non-retryable InvalidGeneration', async (generation) => {
    const { storage, calls } = fakeStorage('1796098282271259');
    const err = await failure(gcsObjectStore(storage).download({ bucket: 'b', name: 'a.jpg', generation }, 100));
    expect(err).toBeInstanceOf(BadInputError);
    expect(err.errorClass).toBe('InvalidGeneration');
    expect(isRetryable(err)).toBe(false);
    expect(toFailure(err, 1).nonRetryable).toBe(true);
    // Refused before any request: the client would round it to a double and ask for another generation.
    expect(calls).toEqual([]);
  });

  it('a 400 from storage for a reference is bad input, not a passing fault', async () => {
    const storage = {
      bucket: () => ({ file: () => ({ getMetadata: async () => Promise.reject(Object.assign(new Error('Invalid argument.'), { code: 400 })) }) }),
    } as unknown as Storage;
    const err = await failure(gcsObjectStore(storage).download({ bucket: 'b', name: 'a.jpg', generation: '5' }, 100));
    expect(err.errorClass).toBe('InvalidObjectReference');
    expect(isRetryable(err)).toBe(false);
  });

  it('a 503 stays a passing StorageError', async () => {
    const storage = {
      bucket: () => ({ file: () => ({ getMetadata: async () => Promise.reject(Object.assign(new Error('Service Unavailable'), { code: 503 })) }) }),
    } as unknown as Storage;
    const err = await failure(gcsObjectStore(storage).download({ bucket: 'b', name: 'a.jpg', generation: '5' }, 100));
    expect(err.errorClass).toBe('StorageError');
    expect(isRetryable(err)).toBe(true);
  });
});

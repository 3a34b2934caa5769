/**
 * Reading an object by reference: a generation GCS cannot take is the reference's fault, so it fails once
 * as bad input (one failed row), not five times as a passing StorageError. The fake answers as
 * fake-gcs-server and GCS do (400 "invalid generation ID" for a generation over int64).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Storage } from '@google-cloud/storage';
import { describe, expect, it } from 'vitest';
import { toFailure } from '../../activities/stage';
import { BadInputError, isRetryable } from '../../core/errors';
import { gcsObjectStore, type ObjectStore } from '../../io/objectstore';
import { VideoFiles } from '../../io/video-files';

const INT64_MAX = 9223372036854775807n;

function fakeStorage(current: string) {
  const calls: string[] = [];
  const storage = {
    bucket: () => ({
      file: (_name: string, opts?: { generation?: number }) => ({
        getMetadata: async () => {
          calls.push(`meta:${opts?.generation}`);
          const g = opts?.generation;
          if (g !== undefined && BigInt(Math.trunc(g)) > INT64_MAX)
            throw Object.assign(new Error('invalid generation ID'), { code: 400 });
          if (g !== undefined && String(g) !== current) throw Object.assign(new Error('No such object'), { code: 404 });
          return [{ generation: current, size: '3' }];
        },
        download: async (o?: { destination?: string }) => {
          calls.push(o?.destination ? `download:file` : 'download');
          if (o?.destination) {
            fs.writeFileSync(o.destination, 'abc');
            return [];
          }
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
    expect(
      (
        await gcsObjectStore(storage).download({ bucket: 'b', name: 'a.jpg', generation: '1796098282271259' }, 100)
      ).toString(),
    ).toBe('abc');
  });

  it.each(['99999999999999999999', '9223372036854775808', '9007199254740993'])(
    'generation %s fails once as non-retryable InvalidGeneration',
    async (generation) => {
      const { storage, calls } = fakeStorage('1796098282271259');
      const err = await failure(gcsObjectStore(storage).download({ bucket: 'b', name: 'a.jpg', generation }, 100));
      expect(err).toBeInstanceOf(BadInputError);
      expect(err.errorClass).toBe('InvalidGeneration');
      expect(isRetryable(err)).toBe(false);
      expect(toFailure(err, 1).nonRetryable).toBe(true);
      // Refused before any request: the client would round it to a double and ask for another generation.
      expect(calls).toEqual([]);
    },
  );

  it('a 400 from storage for a reference is bad input, not a passing fault', async () => {
    const storage = {
      bucket: () => ({
        file: () => ({
          getMetadata: async () => Promise.reject(Object.assign(new Error('Invalid argument.'), { code: 400 })),
        }),
      }),
    } as unknown as Storage;
    const err = await failure(gcsObjectStore(storage).download({ bucket: 'b', name: 'a.jpg', generation: '5' }, 100));
    expect(err.errorClass).toBe('InvalidObjectReference');
    expect(isRetryable(err)).toBe(false);
  });

  it('a 503 stays a passing StorageError', async () => {
    const storage = {
      bucket: () => ({
        file: () => ({
          getMetadata: async () => Promise.reject(Object.assign(new Error('Service Unavailable'), { code: 503 })),
        }),
      }),
    } as unknown as Storage;
    const err = await failure(gcsObjectStore(storage).download({ bucket: 'b', name: 'a.jpg', generation: '5' }, 100));
    expect(err.errorClass).toBe('StorageError');
    expect(isRetryable(err)).toBe(true);
  });
});

describe('gcsObjectStore.downloadToFile (videos: streamed to disk, not held in memory)', () => {
  it('writes the referenced generation to the file, with the same size check as download', async () => {
    const { storage, calls } = fakeStorage('17');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-dl-'));
    const dest = path.join(dir, 'v.avi');
    await gcsObjectStore(storage).downloadToFile!({ bucket: 'b', name: 'v.avi', generation: '17' }, dest, 100);
    expect(fs.readFileSync(dest, 'utf8')).toBe('abc');
    expect(calls).toEqual(['meta:17', 'download:file']);
    const err = await failure(
      gcsObjectStore(storage).downloadToFile!({ bucket: 'b', name: 'v.avi', generation: '17' }, dest, 2),
    );
    expect(err.errorClass).toBe('ObjectTooLarge');
    expect(calls.filter((c) => c.startsWith('download'))).toHaveLength(1);
  });
});

describe('VideoFiles', () => {
  it("uses the store's file download when it has one, and its own bound (not the in-memory one)", async () => {
    const seen: Array<{ how: string; maxBytes: number }> = [];
    const store: ObjectStore = {
      download: async (_ref, maxBytes) => {
        seen.push({ how: 'memory', maxBytes });
        return Buffer.from('mem');
      },
      downloadToFile: async (_ref, dest, maxBytes) => {
        seen.push({ how: 'file', maxBytes });
        fs.writeFileSync(dest, 'file');
      },
      upload: async () => {},
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-vf-'));
    const videos = new VideoFiles(store, { maxObjectBytes: 5e9, cacheBytes: 1e9, dir });
    const file = await videos.get({ bucket: 'b', name: 'long.avi', generation: '1', size: 4 });
    expect(fs.readFileSync(file, 'utf8')).toBe('file');
    expect(seen).toEqual([{ how: 'file', maxBytes: 5e9 }]);
    // A store without file downloads still works (through memory).
    const plain = new VideoFiles(
      { download: store.download, upload: store.upload },
      { maxObjectBytes: 7, cacheBytes: 1e9, dir },
    );
    expect(fs.readFileSync(await plain.get({ bucket: 'b', name: 'other.avi', generation: '2', size: 3 }), 'utf8')).toBe(
      'mem',
    );
    videos.close();
    plain.close();
  });
});

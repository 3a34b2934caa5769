/**
 * Videos on local disk for ffmpeg: a segment activity needs a seekable file, and downloading a two-hour
 * video once per segment would cost more than analysing it. Each object version is downloaded once per
 * worker into a temporary folder and kept while there is room (LRU by bytes); concurrent segments of the
 * same video share one download.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { objectKey } from '../core/events';
import type { ObjectRef } from '../core/types';
import type { ObjectStore } from './objectstore';

export class VideoFiles {
  private readonly entries = new Map<string, { file: string; bytes: number; ready: Promise<string> }>();
  private bytes = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly opts: { maxObjectBytes: number; cacheBytes: number; dir?: string },
  ) {}

  private dir(): string {
    const d = this.opts.dir ?? path.join(os.tmpdir(), `lookout-videos-${process.pid}`);
    fs.mkdirSync(d, { recursive: true });
    return d;
  }

  /** A local path holding exactly this object version. */
  async get(ref: Pick<ObjectRef, 'bucket' | 'name' | 'generation' | 'size'>): Promise<string> {
    const key = objectKey(ref);
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.ready;
    }
    const ext = path
      .extname(ref.name)
      .replace(/[^.A-Za-z0-9]/g, '')
      .slice(0, 8);
    const file = path.join(this.dir(), `${crypto.createHash('sha1').update(key).digest('hex')}${ext}`);
    const ready = (async () => {
      if (this.store.downloadToFile) {
        await this.store.downloadToFile(ref, file, this.opts.maxObjectBytes);
      } else {
        await fs.promises.writeFile(file, await this.store.download(ref, this.opts.maxObjectBytes));
      }
      return file;
    })();
    const entry = { file, bytes: ref.size, ready };
    this.entries.set(key, entry);
    this.bytes += ref.size;
    ready.catch(() => this.drop(key));
    this.evict(key);
    return ready;
  }

  private drop(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.bytes;
    fs.rm(e.file, { force: true }, () => {});
  }

  /** Oldest first, never the one just asked for. A file being read by ffmpeg stays readable after unlink on POSIX. */
  private evict(keep: string): void {
    for (const k of [...this.entries.keys()]) {
      if (this.bytes <= this.opts.cacheBytes) return;
      if (k !== keep) this.drop(k);
    }
  }

  close(): void {
    for (const k of [...this.entries.keys()]) this.drop(k);
  }
}

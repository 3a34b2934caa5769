/**
 * Images by reference: download from the object store, decode with the worker's limits, and keep
 * recently decoded images so the stages of one object on one worker decode it once.
 */
import { BadInputError } from '../core/errors';
import { objectKey } from '../core/events';
import type { ObjectRef } from '../core/types';
import { decodeImage, type DecodedImage } from '../media/image';
import type { ObjectStore } from './objectstore';

/** A small LRU of decoded images by object version, bounded in bytes. */
export class ImageCache {
  private map = new Map<string, DecodedImage>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}
  get(key: string): DecodedImage | undefined {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, img: DecodedImage): void {
    if (img.data.length > this.maxBytes) return;
    const old = this.map.get(key);
    if (old) {
      this.bytes -= old.data.length;
      this.map.delete(key);
    }
    this.map.set(key, img);
    this.bytes += img.data.length;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= v.data.length;
    }
  }
}

const IMAGE_TYPES = /^(image\/|application\/octet-stream$|binary\/octet-stream$)/;

export type ImageRef = Pick<ObjectRef, 'bucket' | 'name' | 'generation' | 'size' | 'contentType'>;

export interface ImageLoaderOptions {
  store: ObjectStore;
  limits: { maxObjectBytes: number; maxPixels: number; decodePixelBudget?: number };
  /** Bytes of decoded images kept (0 = no cache). */
  cacheBytes: number;
  /** Called after a download, before decoding (activities heartbeat here). */
  onDownloaded?: () => void;
}

/** Downloads and decodes an image, with the bad-input checks that make a failed row instead of a retry. */
export function createImageLoader(opts: ImageLoaderOptions): (o: ImageRef) => Promise<DecodedImage> {
  const cache = new ImageCache(opts.cacheBytes);
  return async (o) => {
    const key = objectKey(o);
    const hit = cache.get(key);
    if (hit) return hit;
    if (o.size > opts.limits.maxObjectBytes)
      throw new BadInputError(
        'ObjectTooLarge',
        `object is ${o.size} bytes, over the limit of ${opts.limits.maxObjectBytes}`,
      );
    if (o.size === 0) throw new BadInputError('EmptyObject', 'object is empty (0 bytes)');
    if (o.contentType && !IMAGE_TYPES.test(o.contentType)) {
      throw new BadInputError('UnsupportedMedia', `content type ${o.contentType} is not an image`);
    }
    const buf = await opts.store.download(o, opts.limits.maxObjectBytes);
    opts.onDownloaded?.();
    // The pixel budget is shared by every decode of this worker process.
    const img = await decodeImage(buf, {
      maxPixels: opts.limits.maxPixels,
      pixelBudget: opts.limits.decodePixelBudget,
    });
    cache.set(key, img);
    return img;
  };
}

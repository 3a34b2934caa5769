/** Rasters read from the embedded fake-gcs-server by range requests (io/rangesource.ts + media/raster.ts). */
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../core/errors';
import { gcsRangeSource } from '../../io/rangesource';
import { openRaster } from '../../media/raster';
import { epsgGeoKeys, writeTiffBuffer } from '../../media/tiff-writer';
import { ensureBucket, SIDE_BUCKET, storage, uniqueRun, upload } from './helpers';

/** xorshift32 bytes: incompressible, so tiles keep their size and a chip's cost is visible. */
function noise(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let s = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    b[i] = s & 0xff;
  }
  return b;
}

describe('rasters from the bucket by range requests', () => {
  const tile = 256;
  const scene = writeTiffBuffer({
    width: 2048,
    height: 2048,
    bands: 1,
    type: 'uint8',
    tileSize: tile,
    compression: 'deflate',
    geo: { tiepoint: [0, 0, 0, 500000, 4000000, 0], pixelScale: [10, 10, 0], geoKeys: epsgGeoKeys(32611) },
    block: (x, y, w, h) => noise(w * h, x * 7 + y),
  });

  it('reads one chip with a few ranged GETs, not the object', async () => {
    await ensureBucket(SIDE_BUCKET);
    const name = `${uniqueRun('raster')}/scene.tif`;
    const generation = await upload(SIDE_BUCKET, name, scene, 'image/tiff');
    const src = await gcsRangeSource(storage, { bucket: SIDE_BUCKET, name, generation });
    expect(src.size).toBe(scene.length);
    const r = await openRaster(src);
    expect([r.width, r.height, r.georef.epsg]).toEqual([2048, 2048, 32611]);
    const chip = await r.readChip({ x: 1000, y: 1000, width: 128, height: 128 });
    expect(chip.bands[0][0]).toBe(noise(tile * tile, 768 * 7 + 768)[(1000 - 768) * tile + (1000 - 768)]);
    const { requests, bytesRead } = r.stats();
    expect(requests).toBeLessThan(20);
    expect(bytesRead).toBeLessThan(scene.length / 8);
    expect(r.placement({ x: 0, y: 0, width: 128, height: 128 }).footprint?.minLon).toBeCloseTo(-117, 3);
  });

  it('a missing object and a truncated one are bad input with their classes', async () => {
    await ensureBucket(SIDE_BUCKET);
    const missing = gcsRangeSource(storage, {
      bucket: SIDE_BUCKET,
      name: `${uniqueRun('raster')}/none.tif`,
      generation: '1',
    });
    await expect(missing).rejects.toBeInstanceOf(BadInputError);
    await expect(missing).rejects.toMatchObject({ errorClass: 'ObjectNotFound' });
    const name = `${uniqueRun('raster')}/cut.tif`;
    const generation = await upload(SIDE_BUCKET, name, scene.subarray(0, 3000), 'image/tiff');
    const src = await gcsRangeSource(storage, { bucket: SIDE_BUCKET, name, generation });
    await expect(openRaster(src)).rejects.toMatchObject({ errorClass: 'TruncatedRaster' });
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { writeArrayBuffer } from 'geotiff';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../core/errors';
import {
  bufferRangeSource,
  chipGrid,
  chipWindows,
  fileRangeSource,
  openRaster,
  rasterSummary,
  type RangeSource,
} from '../../media/raster';
import {
  blocksFromBands,
  epsgGeoKeys,
  SAMPLE_BYTES,
  toLeBytes,
  writeTiffBuffer,
  type SampleType,
  type TiffWriteOptions,
} from '../../media/tiff-writer';

/** Deterministic test pattern: value of band b at (x, y), kept inside the type's range. */
function pattern(type: SampleType, b: number, x: number, y: number): number {
  const v = (x * 7 + y * 13 + b * 31) % 251;
  if (type === 'float32') return v / 7 - 3.5;
  if (type === 'uint16') return v * 200 + b;
  return v;
}

function bandsOf(type: SampleType, bands: number, w: number, h: number): number[][] {
  return Array.from({ length: bands }, (_, b) =>
    Array.from({ length: w * h }, (_, i) => pattern(type, b, i % w, Math.floor(i / w))),
  );
}

const UTM33 = { tiepoint: [0, 0, 0, 404400, 5342400, 0], pixelScale: [10, 10, 0], geoKeys: epsgGeoKeys(32633) };

function tiff(
  o: Partial<TiffWriteOptions> & { width: number; height: number; bands: number; type: SampleType },
): Buffer {
  const data = bandsOf(o.type, o.bands, o.width, o.height);
  return writeTiffBuffer({
    compression: 'deflate',
    geo: UTM33,
    block: blocksFromBands(data, o.width, o.height, o.type),
    ...o,
  });
}

/** xorshift32 noise bytes (incompressible, deterministic). */
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

/** Byte offset of tile `index` (little-endian classic TIFF written by tiff-writer). */
function tileOffsetEntry(buf: Buffer, index: number): number {
  const n = buf.readUInt16LE(8);
  for (let i = 0; i < n; i++) {
    const e = 10 + 12 * i;
    if (buf.readUInt16LE(e) === 324) return buf.readUInt32LE(e + 8) + 4 * index;
  }
  throw new Error('no TileOffsets');
}

async function errorOf(p: Promise<unknown>): Promise<BadInputError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BadInputError);
    return err as BadInputError;
  }
  throw new Error('expected a BadInputError, got success');
}

describe('chip grid', () => {
  it('cuts chips of size every size - overlap, clipping (not padding) the edge chips', () => {
    const g = chipGrid(300, 200, 128);
    expect([g.cols, g.rows, g.count]).toEqual([3, 2, 6]);
    const ws = g.windows();
    expect(ws.map((w) => [w.x, w.y, w.width, w.height, w.clipped])).toEqual([
      [0, 0, 128, 128, false],
      [128, 0, 128, 128, false],
      [256, 0, 44, 128, true],
      [0, 128, 128, 72, true],
      [128, 128, 128, 72, true],
      [256, 128, 44, 72, true],
    ]);
    const o = chipWindows(300, 200, 128, 32);
    expect([...new Set(o.map((w) => w.x))]).toEqual([0, 96, 192]);
    expect(o.find((w) => w.x === 192)?.width).toBe(108);
    // Exact fit: no sliver chips, nothing clipped.
    expect(chipWindows(256, 256, 128).every((w) => !w.clipped && w.width === 128)).toBe(true);
    expect(chipWindows(256, 256, 128)).toHaveLength(4);
    // Smaller than one chip: one clipped chip.
    expect(chipWindows(20, 10)).toEqual([
      { x: 0, y: 0, width: 20, height: 10, col: 0, row: 0, index: 0, clipped: true },
    ]);
    expect(() => chipGrid(100, 100, 64, 64)).toThrow(RangeError);
  });

  it('blocks cover every chip once', () => {
    const g = chipGrid(1000, 700, 128, 16);
    const seen = [...g.blocks(3)]
      .flat()
      .map((w) => w.index)
      .sort((a, b) => a - b);
    expect(seen).toEqual(Array.from({ length: g.count }, (_, i) => i));
  });
});

describe('openRaster: GeoTIFF', () => {
  it.each([
    ['uint8', 1, 'tiled deflate', { tileSize: 32 }],
    ['uint16', 4, 'tiled deflate', { tileSize: 48 }],
    ['float32', 3, 'striped uncompressed', { rowsPerStrip: 7, compression: 'none' as const }],
    ['uint16', 16, 'striped deflate', { rowsPerStrip: 16 }],
  ] as const)('%s x %d bands, %s: chips hold the written pixels', async (type, bands, _desc, layout) => {
    const w = 150;
    const h = 100;
    const buf = tiff({ width: w, height: h, bands, type, nodata: type === 'uint16' ? 0 : undefined, ...layout });
    const r = await openRaster(bufferRangeSource(buf));
    expect([r.width, r.height, r.bandCount, r.dtype, r.layout.tiled]).toEqual([
      w,
      h,
      bands,
      type,
      'tileSize' in layout,
    ]);
    expect(r.nodata).toBe(type === 'uint16' ? 0 : null);
    expect(r.georef.status).toBe('ok');
    const grid = r.chipGrid(64);
    for (const win of grid.windows()) {
      const chip = await r.readChip(win);
      expect(chip.bands).toHaveLength(bands);
      for (let b = 0; b < bands; b++) {
        expect(chip.bands[b].length).toBe(win.width * win.height);
        for (const [cx, cy] of [
          [0, 0],
          [win.width - 1, win.height - 1],
          [Math.floor(win.width / 2), 3],
        ]) {
          expect(chip.bands[b][cy * win.width + cx]).toBeCloseTo(pattern(type, b, win.x + cx, win.y + cy), 5);
        }
      }
    }
    // A band subset, and several chips from one read.
    const sub = await r.readChip({ x: 10, y: 20, width: 30, height: 40 }, [bands - 1]);
    expect(sub.bandIndices).toEqual([bands - 1]);
    expect(sub.bands[0][0]).toBeCloseTo(pattern(type, bands - 1, 10, 20), 5);
    const ws = grid.windows();
    const together = await r.readChips(ws);
    for (let i = 0; i < ws.length; i++)
      expect(Array.from(together[i].bands[0])).toEqual(Array.from((await r.readChip(ws[i])).bands[0]));
  });

  it('reads a file written by geotiff.js itself (one uncompressed strip, geotiff.js metadata)', async () => {
    const values = new Uint8Array(40 * 30).map((_, i) => i % 256);
    const ab = writeArrayBuffer(values, {
      width: 40,
      height: 30,
      ModelPixelScale: [30, 30, 0],
      ModelTiepoint: [0, 0, 0, 500000, 4000000, 0],
      ProjectedCSTypeGeoKey: 32611,
      GTModelTypeGeoKey: 1,
    });
    const r = await openRaster(bufferRangeSource(new Uint8Array(ab)));
    expect([r.width, r.height, r.bandCount, r.dtype]).toEqual([40, 30, 1, 'uint8']);
    expect(r.georef.epsg).toBe(32611);
    const chip = await r.readChip({ x: 5, y: 2, width: 10, height: 10 });
    expect(chip.bands[0][0]).toBe((2 * 40 + 5) % 256);
  });

  it('reads a tiled raster by ranges: one chip costs a few tiles, not the file', async () => {
    const size = 2048;
    const tile = 256;
    const block = (x: number, y: number, bw: number, bh: number) => noise(bw * bh, x * 7919 + y);
    const buf = writeTiffBuffer({
      width: size,
      height: size,
      bands: 1,
      type: 'uint8',
      tileSize: tile,
      compression: 'deflate',
      geo: UTM33,
      block,
    });
    const r = await openRaster(bufferRangeSource(buf));
    const before = r.stats().bytesRead;
    const chip = await r.readChip({ x: 1000, y: 1000, width: 128, height: 128 });
    const spent = r.stats().bytesRead - before;
    const expected = block(768, 768, tile, tile)[(1000 - 768) * tile + (1000 - 768)];
    expect(chip.bands[0][0]).toBe(expected);
    // The chip straddles 2 x 2 tiles of ~64 KiB each (noise does not compress); plus cached header and
    // offset-array blocks of 64 KiB.
    expect(spent).toBeLessThan(4 * 66000 + 3 * 65536);
    expect(spent).toBeLessThan(buf.length / 8);
    const p = r.placement({ x: 0, y: 0, width: 128, height: 128 });
    expect(p.footprint?.minLon).toBeGreaterThan(13.7);
    expect(p.footprint?.maxLat).toBeCloseTo(48.2277, 3);
  });

  it("passes the source's own errors through untouched (storage faults stay retryable)", async () => {
    // Noise tiles of 16 KiB: read straight from the source, past the small-read cache.
    const buf = writeTiffBuffer({
      width: 256,
      height: 256,
      bands: 1,
      type: 'uint8',
      tileSize: 128,
      compression: 'deflate',
      block: (x, y, w, h) => noise(w * h, x + y),
    });
    const fault = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    let broken = false;
    const flaky: RangeSource = {
      size: buf.length,
      read: async (o, l) => (broken ? Promise.reject(fault) : buf.subarray(o, o + l)),
    };
    const r = await openRaster(flaky);
    broken = true;
    await expect(r.readChip({ x: 0, y: 0, width: 64, height: 64 })).rejects.toBe(fault);
    broken = false;
    expect((await r.readChip({ x: 0, y: 0, width: 64, height: 64 })).bands[0][0]).toBe(noise(128 * 128, 0)[0]);
  });
});

describe('rasterSummary', () => {
  it('gives the summary row: size, CRS, pixel size, whole footprint, chip and clipped counts', async () => {
    const r = await openRaster(
      bufferRangeSource(tiff({ width: 300, height: 200, bands: 2, type: 'uint16', tileSize: 64 })),
    );
    const s = rasterSummary(r, 128);
    expect(s).toMatchObject({
      width: 300,
      height: 200,
      bandCount: 2,
      dtype: 'uint16',
      tiled: true,
      compression: 'deflate',
      georefStatus: 'ok',
      epsg: 32633,
      pixelSizeX: 10,
      pixelSizeY: 10,
      chips: 6,
      clippedChips: 4,
    });
    expect(s.footprintWkt).toMatch(/^POLYGON\(\(13\.7/);
    expect(s.maxLat).toBeCloseTo(48.2277, 3);
    const missing = rasterSummary(
      await openRaster(
        bufferRangeSource(tiff({ width: 256, height: 256, bands: 1, type: 'uint8', tileSize: 64, geo: undefined })),
      ),
    );
    expect(missing).toMatchObject({
      georefStatus: 'missing',
      footprintWkt: null,
      epsg: null,
      chips: 4,
      clippedChips: 0,
    });
    expect(missing.georefReason).toMatch(/ModelTiepoint/);
  });
});

describe('openRaster: georeference problems keep pixel windows', () => {
  it('missing georeference: chips without footprints, flagged', async () => {
    const r = await openRaster(
      bufferRangeSource(tiff({ width: 40, height: 40, bands: 1, type: 'uint8', geo: undefined, tileSize: 16 })),
    );
    expect(r.georef.status).toBe('missing');
    const p = r.placement({ x: 0, y: 0, width: 40, height: 40 });
    expect(p.footprint).toBeNull();
    expect(p.georefStatus).toBe('missing');
    expect(p.reason).toMatch(/missing/);
    expect((await r.readChip({ x: 0, y: 0, width: 40, height: 40 })).bands[0]).toHaveLength(1600);
  });

  it('broken georeference (zero pixel scale) and an unsupported CRS are flagged the same way', async () => {
    const broken = await openRaster(
      bufferRangeSource(
        tiff({
          width: 40,
          height: 40,
          bands: 1,
          type: 'uint8',
          geo: { ...UTM33, pixelScale: [0, 10, 0] },
          tileSize: 16,
        }),
      ),
    );
    expect(broken.georef.status).toBe('invalid');
    expect(broken.placement({ x: 0, y: 0, width: 16, height: 16 }).footprint).toBeNull();
    // EPSG:6269 is in the registry, but its projection (+proj=col_urban) is not one proj4js has.
    const urban = await openRaster(
      bufferRangeSource(
        tiff({
          width: 40,
          height: 40,
          bands: 1,
          type: 'uint8',
          geo: { ...UTM33, geoKeys: epsgGeoKeys(6269) },
          tileSize: 16,
        }),
      ),
    );
    expect(urban.georef.status).toBe('unsupported-crs');
    const p = urban.placement({ x: 0, y: 0, width: 16, height: 16 });
    expect(p.footprint).toBeNull();
    expect(p.reason).toMatch(/EPSG:6269.*proj4js cannot express it/);
    expect(() => urban.footprint({ x: 0, y: 0, width: 16, height: 16 })).toThrow(
      expect.objectContaining({ errorClass: 'UnsupportedCrs' }),
    );
    expect((await urban.readChip({ x: 0, y: 0, width: 16, height: 16 })).bands[0]).toHaveLength(256);
  });
});

describe('openRaster: bad input is a named error, never a crash or an unbounded allocation', () => {
  const small = () => ({ width: 32, height: 32, bands: 1, type: 'uint8' as const, tileSize: 16 });

  it('a lying header: 100,000 x 100,000 pixels claimed over a truncated object', async () => {
    const constant = Buffer.alloc(512 * 512, 7);
    const full = writeTiffBuffer({
      width: 100_000,
      height: 100_000,
      bands: 1,
      type: 'uint8',
      tileSize: 512,
      compression: 'deflate',
      geo: UTM33,
      shareRepeatedBlocks: true,
      block: () => constant,
    });
    // The real file (shared tiles) opens: a big raster is not bad input by itself.
    const ok = await openRaster(bufferRangeSource(full));
    expect([ok.width, ok.height]).toEqual([100_000, 100_000]);
    expect((await ok.readChip({ x: 99_900, y: 99_900, width: 100, height: 100 })).bands[0][0]).toBe(7);
    // Cut inside the tile offset arrays, and just after them (tile data gone).
    const offsetsEnd = full.length - 2000;
    for (const cut of [4096, offsetsEnd]) {
      const err = await errorOf(openRaster(bufferRangeSource(full.subarray(0, cut))));
      expect(err.errorClass).toBe('TruncatedRaster');
    }
  });

  it('tiles cut off at the end: the chip that needs them fails, named', async () => {
    const buf = tiff({ width: 64, height: 64, bands: 1, type: 'uint8', tileSize: 16 });
    // Keep the last tile (checked at open) by cutting a middle one: rewrite its offset past the end.
    const r0 = await openRaster(bufferRangeSource(buf));
    expect(r0.width).toBe(64);
    const bad = Buffer.from(buf);
    bad.writeUInt32LE(bad.length + 1000, tileOffsetEntry(bad, 5));
    const r = await openRaster(bufferRangeSource(bad));
    expect((await r.readChip({ x: 0, y: 0, width: 16, height: 16 })).bands[0][0]).toBe(pattern('uint8', 0, 0, 0));
    const err = await errorOf(r.readChip({ x: 16, y: 16, width: 16, height: 16 }));
    expect(err.errorClass).toBe('TruncatedRaster');
  });

  it('corrupt compressed data: CorruptRaster', async () => {
    const buf = Buffer.from(tiff({ width: 64, height: 64, bands: 1, type: 'uint8', tileSize: 32 }));
    // Overwrite tile 1's deflate stream with garbage.
    const at = buf.readUInt32LE(tileOffsetEntry(buf, 1));
    buf.fill(0xab, at, at + 40);
    const r = await openRaster(bufferRangeSource(buf));
    const errs: string[] = [];
    for (const w of r.chipGrid(32).windows()) {
      try {
        await r.readChip(w);
      } catch (err) {
        expect(err).toBeInstanceOf(BadInputError);
        errs.push((err as BadInputError).errorClass);
      }
    }
    expect(errs.length).toBeGreaterThan(0);
    expect(new Set(errs)).toEqual(new Set(['CorruptRaster']));
  });

  it('unsupported compression, unsupported bit depth, mixed sample types', async () => {
    expect(
      (await errorOf(openRaster(bufferRangeSource(tiff({ ...small(), overrideTags: { 259: [34712] } }))))).message,
    ).toMatch(/JPEG 2000/);
    expect(
      (await errorOf(openRaster(bufferRangeSource(tiff({ ...small(), overrideTags: { 259: [34712] } }))))).errorClass,
    ).toBe('UnsupportedRaster');
    const twelve = await errorOf(openRaster(bufferRangeSource(tiff({ ...small(), overrideTags: { 258: [12] } }))));
    expect([twelve.errorClass, /uint12/.test(twelve.message)]).toEqual(['UnsupportedRaster', true]);
    const mixed = await errorOf(
      openRaster(bufferRangeSource(tiff({ ...small(), bands: 2, type: 'uint16', overrideTags: { 339: [1, 3] } }))),
    );
    expect(mixed.errorClass).toBe('UnsupportedRaster');
  });

  it('0 bands and 300 bands: BadBandCount', async () => {
    expect(
      (await errorOf(openRaster(bufferRangeSource(tiff({ ...small(), overrideTags: { 277: [0] } }))))).errorClass,
    ).toBe('BadBandCount');
    const cube = await errorOf(
      openRaster(bufferRangeSource(tiff({ width: 4, height: 4, bands: 300, type: 'uint8', tileSize: 16 }))),
    );
    expect([cube.errorClass, /300 bands/.test(cube.message)]).toEqual(['BadBandCount', true]);
    // The limit is a setting, not a hard-coded refusal.
    const r = await openRaster(
      bufferRangeSource(tiff({ width: 4, height: 4, bands: 300, type: 'uint8', tileSize: 16 })),
      { limits: { maxBands: 300 } },
    );
    expect((await r.readChip({ x: 0, y: 0, width: 4, height: 4 }, [299])).bands[0][5]).toBe(
      pattern('uint8', 299, 1, 1),
    );
  });

  it('a block over the memory bound, a tag array over the bound, empty and non-image objects', async () => {
    const strip = tiff({ width: 200, height: 200, bands: 1, type: 'uint8', rowsPerStrip: 200 });
    expect(
      (await errorOf(openRaster(bufferRangeSource(strip), { limits: { maxBlockBytes: 10_000 } }))).errorClass,
    ).toBe('RasterBlockTooLarge');
    expect(
      (
        await errorOf(
          openRaster(bufferRangeSource(tiff({ width: 64, height: 64, bands: 1, type: 'uint8', tileSize: 16 })), {
            limits: { maxTagBytes: 32 },
          }),
        )
      ).errorClass,
    ).toBe('RasterBlockTooLarge');
    expect((await errorOf(openRaster(bufferRangeSource(Buffer.alloc(0))))).errorClass).toBe('EmptyObject');
    expect((await errorOf(openRaster(bufferRangeSource(Buffer.from('hello, not a raster at all'))))).errorClass).toBe(
      'NotAnImage',
    );
    expect((await errorOf(openRaster(bufferRangeSource(Buffer.from('II*\0'))))).errorClass).toBe('TruncatedRaster');
    const hdr = Buffer.alloc(8);
    hdr.write('II', 0, 'latin1');
    hdr.writeUInt16LE(42, 2);
    hdr.writeUInt32LE(1 << 30, 4);
    expect((await errorOf(openRaster(bufferRangeSource(hdr)))).errorClass).toBe('TruncatedRaster');
  });

  it('windows outside the raster are a caller error (RangeError), not bad input', async () => {
    const r = await openRaster(bufferRangeSource(tiff(small())));
    await expect(r.readChip({ x: 20, y: 20, width: 16, height: 16 })).rejects.toThrow(RangeError);
    await expect(r.readChip({ x: 0, y: 0, width: 16, height: 16 }, [1])).rejects.toThrow(RangeError);
  });
});

describe('openRaster: JPEG / PNG with a world file or none', () => {
  it('JPEG with a world file and a CRS: georeferenced chips', async () => {
    const jpg = await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 10, g: 120, b: 200 } } })
      .jpeg({ quality: 95 })
      .toBuffer();
    const r = await openRaster(bufferRangeSource(jpg, 'scene.jpg'), {
      worldFile: '0.5\n0\n0\n-0.5\n404400.25\n5342399.75\n',
      epsg: 32633,
    });
    expect([r.format, r.width, r.height, r.bandCount, r.georef.status, r.georef.source]).toEqual([
      'jpeg',
      300,
      200,
      3,
      'ok',
      'world-file',
    ]);
    const chip = await r.readChip({ x: 256, y: 128, width: 44, height: 72 });
    expect(Math.abs(chip.bands[2][0] - 200)).toBeLessThan(4);
    const f = r.placement({ x: 0, y: 0, width: 300, height: 200 }).footprint!;
    expect(f.maxLat).toBeCloseTo(48.2277, 3);
    expect(f.maxLon - f.minLon).toBeGreaterThan(0.0019); // 150 m at 48 N is ~0.002 degrees
  });

  it('PNG without a world file: pixel windows only; truncated PNG: CorruptImage', async () => {
    const png = await sharp({
      create: { width: 64, height: 48, channels: 4, background: { r: 1, g: 2, b: 3, alpha: 1 } },
    })
      .png()
      .toBuffer();
    const r = await openRaster(bufferRangeSource(png));
    expect([r.format, r.bandCount, r.georef.status]).toEqual(['png', 4, 'missing']);
    expect(r.placement({ x: 0, y: 0, width: 64, height: 48 }).footprint).toBeNull();
    const err = await errorOf(openRaster(bufferRangeSource(png.subarray(0, 60))));
    expect(err.errorClass).toBe('CorruptImage');
    expect((await errorOf(openRaster(bufferRangeSource(png), { limits: { maxPlainImageBytes: 10 } }))).errorClass).toBe(
      'ObjectTooLarge',
    );
  });
});

it('tiff-writer helpers agree on sizes', () => {
  expect(toLeBytes([1, 2], 'uint16')).toHaveLength(2 * SAMPLE_BYTES.uint16);
});

// Real data from bench/raster-data.sh (not in a fresh clone: skipped there).
const L7 = path.resolve(__dirname, '../../.lookout/raster-data/stars/L7_ETMs.tif');
it.skipIf(!fs.existsSync(L7))(
  'reads Landsat 7 L7_ETMs.tif (r-cran-stars) with its SIRGAS 2000 / UTM 25S georeference',
  async () => {
    const src = await fileRangeSource(L7);
    try {
      const r = await openRaster(src);
      const s = rasterSummary(r, 128);
      // gdalinfo: 349 x 352, 6 bands Byte, origin (288776.3, 9120760.75), pixel 28.5 m, EPSG:31985.
      expect(s).toMatchObject({
        width: 349,
        height: 352,
        bandCount: 6,
        dtype: 'uint8',
        epsg: 31985,
        georefStatus: 'ok',
        chips: 9,
        clippedChips: 5,
      });
      expect(s.pixelSizeX).toBeCloseTo(28.5, 6);
      // Olinda, Pernambuco, Brazil: about 34.9 W, 8.0 S.
      expect(s.minLon).toBeGreaterThan(-35);
      expect(s.maxLon).toBeLessThan(-34.8);
      expect(s.minLat).toBeGreaterThan(-8.1);
      expect(s.maxLat).toBeLessThan(-7.9);
    } finally {
      await src.close();
    }
  },
);

/**
 * A small (Geo)TIFF writer for tests and benchmarks: tiled or striped, deflate or uncompressed, 1..n bands of
 * one sample type, pixel-interleaved, with GeoTIFF georeference tags and GDAL_NODATA. The IFD and its tag
 * arrays come first and the blocks after them (as in a Cloud-Optimized GeoTIFF, without overviews), so a
 * range reader learns the layout from the first kilobytes.
 *
 * Why not geotiff.js's writeArrayBuffer: it writes one uncompressed strip from a whole in-memory array,
 * so it can neither make a tiled, compressed file nor a 2-gigapixel one. Why not GDAL: it would be a system
 * dependency for tests; this is ~200 lines. Blocks are produced by a callback and written one at a time,
 * so memory stays at one block whatever the raster size.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';

export type SampleType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';

export const SAMPLE_BYTES: Record<SampleType, number> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  float64: 8,
};
const SAMPLE_FORMAT: Record<SampleType, number> = {
  uint8: 1,
  uint16: 1,
  uint32: 1,
  int8: 2,
  int16: 2,
  int32: 2,
  float32: 3,
  float64: 3,
};

export interface TiffGeoTags {
  /** [I, J, K, X, Y, Z]: pixel (I, J) is at map (X, Y). */
  tiepoint?: number[];
  /** [Sx, Sy, Sz]. */
  pixelScale?: number[];
  /** 4x4 row-major ModelTransformation. */
  transformation?: number[];
  /** GeoKeys as [keyId, value] (SHORT values only, enough for EPSG codes and model/raster types). */
  geoKeys?: Array<[number, number]>;
}

export interface TiffWriteOptions {
  width: number;
  height: number;
  bands: number;
  type: SampleType;
  /** Tiled with this tile size (multiple of 16), or striped when `rowsPerStrip` is given instead. */
  tileSize?: number;
  rowsPerStrip?: number;
  compression?: 'none' | 'deflate';
  /** zlib level for deflate (default 6). */
  level?: number;
  geo?: TiffGeoTags;
  nodata?: number;
  /**
   * Raw pixel-interleaved little-endian bytes of the block whose top-left pixel is (x, y): tiles are always
   * full tileSize² (padding past the raster's edge, as TIFF requires), strips have min(rowsPerStrip, rows
   * left) rows.
   */
  block: (x: number, y: number, blockWidth: number, blockHeight: number) => Buffer;
  /**
   * When the callback returns the very same Buffer object again, point the block at the bytes already
   * written instead of writing them again (TIFF allows shared blocks; GDAL writes sparse files this way).
   * Makes huge, mostly constant test rasters cheap.
   */
  shareRepeatedBlocks?: boolean;
  /** Tag values replacing the ones written (for constructing bad inputs in tests): tag id -> values. */
  overrideTags?: Record<number, number[]>;
}

interface Tag {
  id: number;
  type: 2 | 3 | 4 | 12;
  values: number[] | string;
}

const TYPE_SIZE = { 2: 1, 3: 2, 4: 4, 12: 8 } as const;

function tagBytes(t: Tag): Buffer {
  const n = typeof t.values === 'string' ? t.values.length + 1 : t.values.length;
  const b = Buffer.alloc(n * TYPE_SIZE[t.type]);
  if (typeof t.values === 'string') b.write(t.values, 0, 'latin1');
  else
    t.values.forEach((v, i) => {
      if (t.type === 3) b.writeUInt16LE(v, i * 2);
      else if (t.type === 4) b.writeUInt32LE(v, i * 4);
      else b.writeDoubleLE(v, i * 8);
    });
  return b;
}

/** Positional writes to a file, or gathered into one Buffer. */
interface Sink {
  write(buf: Buffer, pos: number): void;
}

function layout(o: TiffWriteOptions): { tiled: boolean; bw: number; bh: number; nx: number; ny: number } {
  if (o.tileSize !== undefined) {
    if (o.tileSize % 16 !== 0 || o.tileSize <= 0)
      throw new Error(`tileSize must be a positive multiple of 16, got ${o.tileSize}`);
    return {
      tiled: true,
      bw: o.tileSize,
      bh: o.tileSize,
      nx: Math.ceil(o.width / o.tileSize),
      ny: Math.ceil(o.height / o.tileSize),
    };
  }
  const rps = o.rowsPerStrip ?? o.height;
  return { tiled: false, bw: o.width, bh: rps, nx: 1, ny: Math.ceil(o.height / rps) };
}

function writeTiff(o: TiffWriteOptions, sink: Sink): number {
  const { tiled, bw, bh, nx, ny } = layout(o);
  const nBlocks = nx * ny;
  const bytes = SAMPLE_BYTES[o.type];
  const bandsList = (v: number) => new Array<number>(Math.max(1, o.bands)).fill(v);
  const rgb = o.bands === 3 && o.type === 'uint8';
  const tags: Tag[] = [
    { id: 256, type: 4, values: [o.width] },
    { id: 257, type: 4, values: [o.height] },
    { id: 258, type: 3, values: bandsList(bytes * 8) },
    { id: 259, type: 3, values: [o.compression === 'deflate' ? 8 : 1] },
    { id: 262, type: 3, values: [rgb ? 2 : 1] },
    { id: 277, type: 3, values: [o.bands] },
    { id: 284, type: 3, values: [1] },
    { id: 339, type: 3, values: bandsList(SAMPLE_FORMAT[o.type]) },
  ];
  const placeholder = new Array<number>(nBlocks).fill(0);
  if (tiled) {
    tags.push(
      { id: 322, type: 4, values: [bw] },
      { id: 323, type: 4, values: [bh] },
      { id: 324, type: 4, values: placeholder },
      { id: 325, type: 4, values: placeholder },
    );
  } else {
    tags.push(
      { id: 273, type: 4, values: placeholder },
      { id: 278, type: 4, values: [bh] },
      { id: 279, type: 4, values: placeholder },
    );
  }
  if (o.bands > (rgb ? 3 : 1))
    tags.push({ id: 338, type: 3, values: new Array<number>(o.bands - (rgb ? 3 : 1)).fill(0) });
  const g = o.geo;
  if (g?.pixelScale) tags.push({ id: 33550, type: 12, values: g.pixelScale });
  if (g?.tiepoint) tags.push({ id: 33922, type: 12, values: g.tiepoint });
  if (g?.transformation) tags.push({ id: 34264, type: 12, values: g.transformation });
  if (g?.geoKeys && g.geoKeys.length > 0) {
    const keys = [...g.geoKeys].sort((a, b) => a[0] - b[0]);
    tags.push({ id: 34735, type: 3, values: [1, 1, 0, keys.length, ...keys.flatMap(([k, v]) => [k, 0, 1, v])] });
  }
  if (o.nodata !== undefined) tags.push({ id: 42113, type: 2, values: String(o.nodata) });
  for (const [id, values] of Object.entries(o.overrideTags ?? {})) {
    const t = tags.find((x) => x.id === Number(id));
    if (t) t.values = values;
    else tags.push({ id: Number(id), type: 3, values });
  }
  tags.sort((a, b) => a.id - b.id);

  // Layout: header (8) | IFD (2 + 12n + 4) | out-of-line tag values | blocks.
  const ifdStart = 8;
  let pos = ifdStart + 2 + 12 * tags.length + 4;
  const values: Array<{ tag: Tag; data: Buffer; at: number }> = [];
  for (const t of tags) {
    const data = tagBytes(t);
    const at = data.length > 4 ? pos : -1;
    if (at >= 0) pos += data.length + (data.length % 2); // word alignment
    values.push({ tag: t, data, at });
  }
  const offsets: number[] = [];
  const counts: number[] = [];
  const written = new WeakMap<Buffer, { at: number; n: number }>();
  for (let by = 0; by < ny; by++) {
    for (let bx = 0; bx < nx; bx++) {
      const h = tiled ? bh : Math.min(bh, o.height - by * bh);
      const raw = o.block(bx * bw, by * bh, bw, h);
      const seen = o.shareRepeatedBlocks ? written.get(raw) : undefined;
      if (seen) {
        offsets.push(seen.at);
        counts.push(seen.n);
        continue;
      }
      if (raw.length !== bw * h * o.bands * bytes)
        throw new Error(`block (${bx}, ${by}): ${raw.length} bytes, expected ${bw * h * o.bands * bytes}`);
      const data = o.compression === 'deflate' ? zlib.deflateSync(raw, { level: o.level ?? 6 }) : raw;
      sink.write(data, pos);
      if (o.shareRepeatedBlocks) written.set(raw, { at: pos, n: data.length });
      offsets.push(pos);
      counts.push(data.length);
      pos += data.length;
    }
  }
  const offsetTag = tiled ? 324 : 273;
  const countTag = tiled ? 325 : 279;
  const header = Buffer.alloc(8);
  header.write('II', 0, 'latin1');
  header.writeUInt16LE(42, 2);
  header.writeUInt32LE(ifdStart, 4);
  sink.write(header, 0);
  const ifd = Buffer.alloc(2 + 12 * tags.length + 4);
  ifd.writeUInt16LE(tags.length, 0);
  values.forEach((v, i) => {
    let data = v.data;
    if (v.tag.id === offsetTag && !o.overrideTags?.[offsetTag]) data = tagBytes({ ...v.tag, values: offsets });
    if (v.tag.id === countTag && !o.overrideTags?.[countTag]) data = tagBytes({ ...v.tag, values: counts });
    const e = 2 + 12 * i;
    ifd.writeUInt16LE(v.tag.id, e);
    ifd.writeUInt16LE(v.tag.type, e + 2);
    ifd.writeUInt32LE(data.length / TYPE_SIZE[v.tag.type], e + 4);
    if (v.at >= 0) {
      ifd.writeUInt32LE(v.at, e + 8);
      sink.write(data, v.at);
    } else {
      data.copy(ifd, e + 8);
    }
  });
  ifd.writeUInt32LE(0, 2 + 12 * tags.length);
  sink.write(ifd, ifdStart);
  return pos;
}

/** The whole file in memory (small rasters: tests). */
export function writeTiffBuffer(o: TiffWriteOptions): Buffer {
  const parts: Array<{ buf: Buffer; pos: number }> = [];
  const size = writeTiff(o, { write: (buf, pos) => parts.push({ buf: Buffer.from(buf), pos }) });
  const out = Buffer.alloc(size);
  for (const p of parts) p.buf.copy(out, p.pos);
  return out;
}

/** Streams the file to disk one block at a time (large rasters: benchmarks). Returns the file size. */
export function writeTiffFile(file: string, o: TiffWriteOptions): number {
  const fd = fs.openSync(file, 'w');
  try {
    return writeTiff(o, { write: (buf, pos) => void fs.writeSync(fd, buf, 0, buf.length, pos) });
  } finally {
    fs.closeSync(fd);
  }
}

/** GeoKeys for an EPSG code: projected (model type 1) or geographic (model type 2), PixelIsArea. */
export function epsgGeoKeys(epsg: number, opts: { pixelIsPoint?: boolean } = {}): Array<[number, number]> {
  const geographic = epsg === 4326 || epsg === 4269 || epsg === 4258;
  return [
    [1024, geographic ? 2 : 1],
    [1025, opts.pixelIsPoint ? 2 : 1],
    [geographic ? 2048 : 3072, epsg],
  ];
}

/** Little-endian bytes of typed values, as block callbacks must return them. */
export function toLeBytes(values: ArrayLike<number>, type: SampleType): Buffer {
  const b = Buffer.alloc(values.length * SAMPLE_BYTES[type]);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    switch (type) {
      case 'uint8':
        b.writeUInt8(v, i);
        break;
      case 'int8':
        b.writeInt8(v, i);
        break;
      case 'uint16':
        b.writeUInt16LE(v, i * 2);
        break;
      case 'int16':
        b.writeInt16LE(v, i * 2);
        break;
      case 'uint32':
        b.writeUInt32LE(v, i * 4);
        break;
      case 'int32':
        b.writeInt32LE(v, i * 4);
        break;
      case 'float32':
        b.writeFloatLE(v, i * 4);
        break;
      case 'float64':
        b.writeDoubleLE(v, i * 8);
        break;
    }
  }
  return b;
}

/**
 * Block callback over a full in-memory band-sequential raster (values[band][row * width + col]), padding
 * tiles past the edge with `pad`. For tests.
 */
export function blocksFromBands(
  bands: ArrayLike<number>[],
  width: number,
  height: number,
  type: SampleType,
  pad = 0,
): TiffWriteOptions['block'] {
  return (x0, y0, bw, bh) => {
    const n = bands.length;
    const out = new Array<number>(bw * bh * n);
    for (let r = 0; r < bh; r++) {
      for (let c = 0; c < bw; c++) {
        const x = x0 + c;
        const y = y0 + r;
        for (let k = 0; k < n; k++) out[(r * bw + c) * n + k] = x < width && y < height ? bands[k][y * width + x] : pad;
      }
    }
    return toLeBytes(out, type);
  };
}

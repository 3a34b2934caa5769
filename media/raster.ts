/**
 * Rasters of any size, read by byte ranges and cut into chips.
 *
 * A GeoTIFF (striped or tiled / Cloud-Optimized; 1..16 bands; 8/16/32-bit integers, 32/64-bit floats;
 * uncompressed, LZW, deflate, PackBits, JPEG, LERC or ZSTD) is opened with geotiff.js over a RangeSource —
 * a function `(offset, length) => bytes` that storage backs with range requests — so only the header, the
 * tag arrays and the blocks under the chips being read are ever fetched: memory follows the chip window, not
 * the raster. A JPEG or PNG (with a world file, or none) cannot be read in ranges; it is fetched whole and
 * decoded once, under a byte and pixel bound.
 *
 * Before geotiff.js sees a file, its first IFD is checked against the object's size: a header that promises
 * tag arrays, tiles or strips past the end of the object ("100k x 100k" over a few kilobytes), a block that
 * would decode to more than the memory bound, a band count of 0 or above the limit, and a compression or
 * sample type this reader does not decode all end as a BadInputError with a stable class before anything
 * large is allocated. A block that fails to decode is CorruptRaster. Errors thrown by the RangeSource itself
 * (storage faults) pass through untouched so the retry policy can see them.
 */
import fs from 'node:fs/promises';
import { GeoTIFF } from 'geotiff';
import type GeoTIFFImage from 'geotiff/dist-module/geotiffimage';
import sharp from 'sharp';
import { BadInputError, LookoutError } from '../core/errors';
import {
  footprint,
  georefFromGeoTiff,
  georefFromWorldFile,
  NoFootprintError,
  pixelSize,
  type Footprint,
  type FootprintOptions,
  type Georeference,
  type PixelWindow,
} from './georef';

// ------------------------------------------------------------------------------------------------
// Sources

/** Reads `length` bytes at `offset`; may return fewer only at the end of the object. */
export type RangeReader = (offset: number, length: number) => Promise<Uint8Array>;

export interface RangeSource {
  /** Object size in bytes (from storage metadata): reads are checked against it. */
  size: number;
  read: RangeReader;
  /** For messages. */
  name?: string;
}

/** A RangeSource over a local file (tests, benchmarks, the CLI on local files). */
export async function fileRangeSource(file: string): Promise<RangeSource & { close(): Promise<void> }> {
  const fh = await fs.open(file, 'r');
  const { size } = await fh.stat();
  return {
    size,
    name: file,
    read: async (offset, length) => {
      const n = Math.max(0, Math.min(length, size - offset));
      const buf = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const { bytesRead } = await fh.read(buf, got, n - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === n ? buf : buf.subarray(0, got);
    },
    close: () => fh.close(),
  };
}

/** A RangeSource over bytes in memory (tests). */
export function bufferRangeSource(buf: Uint8Array, name = 'buffer'): RangeSource {
  return {
    size: buf.length,
    name,
    read: async (offset, length) => buf.subarray(offset, Math.min(buf.length, offset + length)),
  };
}

export interface ReadStats {
  /** Calls made to the RangeReader. */
  requests: number;
  /** Bytes the RangeReader returned. */
  bytesRead: number;
}

// ------------------------------------------------------------------------------------------------
// Limits

export interface RasterLimits {
  /** Most bands accepted (default 16; a 300-band hyperspectral cube is refused, not half-read). */
  maxBands: number;
  /** Most bytes one tile or strip may decode to (default 32 MiB): bounds memory per block. */
  maxBlockBytes: number;
  /** Most bytes one tag's array may hold (default 64 MiB: offsets of ~8M tiles). */
  maxTagBytes: number;
  /** Most pixels one readWindow may return (default 4096 x 4096). */
  maxWindowPixels: number;
  /** JPEG/PNG only: most bytes fetched (default 256 MiB) and pixels decoded (default 100 MP). */
  maxPlainImageBytes: number;
  maxPlainImagePixels: number;
}

export const DEFAULT_RASTER_LIMITS: RasterLimits = {
  maxBands: 16,
  maxBlockBytes: 32 * 1024 * 1024,
  maxTagBytes: 64 * 1024 * 1024,
  maxWindowPixels: 4096 * 4096,
  maxPlainImageBytes: 256 * 1024 * 1024,
  maxPlainImagePixels: 100_000_000,
};

// ------------------------------------------------------------------------------------------------
// Chips

export interface ChipWindow extends PixelWindow {
  /** Chip column and row in the chip grid. */
  col: number;
  row: number;
  /** Row-major index in the grid. */
  index: number;
  /** True when the chip was cut short by the raster's right or bottom edge (never padded). */
  clipped: boolean;
}

/** The chip grid of a raster: chips of `size` every `size - overlap` pixels, edge chips clipped. */
export interface ChipGrid {
  size: number;
  overlap: number;
  cols: number;
  rows: number;
  count: number;
  window(col: number, row: number): ChipWindow;
  /** All windows, row-major (an array of `count`: for very large rasters prefer blocks()). */
  windows(): ChipWindow[];
  /**
   * The grid in blocks of up to `chipsPerSide` x `chipsPerSide` chips, row-major: the unit a worker reads
   * at once (readChips decodes each tile under a block once) and an activity processes.
   */
  blocks(chipsPerSide: number): Generator<ChipWindow[]>;
}

function positions(extent: number, size: number, stride: number): number {
  // Chips start at 0, stride, 2·stride, ... until one reaches the edge.
  if (extent <= size) return 1;
  return Math.ceil((extent - size) / stride) + 1;
}

export function chipGrid(width: number, height: number, size = 128, overlap = 0): ChipGrid {
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0))
    throw new RangeError(`raster size must be positive integers, got ${width} x ${height}`);
  if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`chip size must be a positive integer, got ${size}`);
  if (!(Number.isInteger(overlap) && overlap >= 0 && overlap < size))
    throw new RangeError(`overlap must be an integer in [0, size), got ${overlap}`);
  const stride = size - overlap;
  const cols = positions(width, size, stride);
  const rows = positions(height, size, stride);
  const window = (col: number, row: number): ChipWindow => {
    if (col < 0 || col >= cols || row < 0 || row >= rows)
      throw new RangeError(`chip (${col}, ${row}) outside the ${cols} x ${rows} grid`);
    const x = col * stride;
    const y = row * stride;
    const w = Math.min(size, width - x);
    const h = Math.min(size, height - y);
    return { x, y, width: w, height: h, col, row, index: row * cols + col, clipped: w < size || h < size };
  };
  return {
    size,
    overlap,
    cols,
    rows,
    count: cols * rows,
    window,
    windows: () => {
      const out: ChipWindow[] = [];
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out.push(window(c, r));
      return out;
    },
    blocks: function* (chipsPerSide: number) {
      const k = Math.max(1, Math.floor(chipsPerSide));
      for (let r0 = 0; r0 < rows; r0 += k) {
        for (let c0 = 0; c0 < cols; c0 += k) {
          const out: ChipWindow[] = [];
          for (let r = r0; r < Math.min(rows, r0 + k); r++)
            for (let c = c0; c < Math.min(cols, c0 + k); c++) out.push(window(c, r));
          yield out;
        }
      }
    },
  };
}

/** All chip windows of a width x height raster (see chipGrid). */
export function chipWindows(width: number, height: number, size = 128, overlap = 0): ChipWindow[] {
  return chipGrid(width, height, size, overlap).windows();
}

// ------------------------------------------------------------------------------------------------
// Raster

export type RasterDtype = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';
export type BandArray =
  Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

export interface WindowData {
  window: PixelWindow;
  width: number;
  height: number;
  /** One array per requested band, row-major width x height, in the raster's sample type. */
  bands: BandArray[];
  /** Indices of the bands returned. */
  bandIndices: number[];
  dtype: RasterDtype;
  nodata: number | null;
}

/** Where a chip sits on the globe, or why it does not. */
export interface ChipPlacement {
  footprint: Footprint | null;
  georefStatus: Georeference['status'];
  /** Set when footprint is null. */
  reason?: string;
}

export interface RasterInfo {
  format: 'geotiff' | 'jpeg' | 'png';
  width: number;
  height: number;
  bandCount: number;
  dtype: RasterDtype;
  nodata: number | null;
  georef: Georeference;
  layout: { tiled: boolean; blockWidth: number; blockHeight: number; compression: string; planar: 1 | 2 };
}

export interface Raster extends RasterInfo {
  chipGrid(size?: number, overlap?: number): ChipGrid;
  /** Pixels of a window inside the raster (no padding, no resampling). */
  readWindow(w: PixelWindow, bands?: number[]): Promise<WindowData>;
  /** One chip: readWindow with the chip's window. */
  readChip(w: PixelWindow, bands?: number[]): Promise<WindowData>;
  /** Several chips from one read of their bounding window (each tile under it decoded once). */
  readChips(ws: PixelWindow[], bands?: number[]): Promise<WindowData[]>;
  /** Footprint of a window in WGS 84 (throws UnsupportedCrsError / NoFootprintError). */
  footprint(w: PixelWindow, opts?: FootprintOptions): Footprint;
  /** Footprint or the reason there is none: never throws for a window inside the raster. */
  placement(w: PixelWindow, opts?: FootprintOptions): ChipPlacement;
  /** Bytes and requests spent on the source so far. */
  stats(): ReadStats;
  close(): Promise<void>;
}

export interface OpenRasterOptions {
  limits?: Partial<RasterLimits>;
  /** Plain images: the world file's text (.jgw/.pgw/.wld), found by the caller (worldFileCandidates). */
  worldFile?: string;
  /** Plain images: a .prj beside the world file. */
  prj?: string;
  /** CRS to assume when the file names none (plain images with a world file). */
  epsg?: number;
}

/** Opens a raster from a range source: GeoTIFF by range reads, JPEG/PNG whole. Bad input -> BadInputError. */
export async function openRaster(src: RangeSource, opts: OpenRasterOptions = {}): Promise<Raster> {
  const limits = { ...DEFAULT_RASTER_LIMITS, ...opts.limits };
  const name = src.name ?? 'raster';
  if (src.size === 0) throw new BadInputError('EmptyObject', `${name} is empty (0 bytes)`);
  const stats: ReadStats = { requests: 0, bytesRead: 0 };
  const counted: RangeReader = async (offset, length) => {
    stats.requests++;
    const b = await src.read(offset, length);
    stats.bytesRead += b.length;
    return b;
  };
  const head = await counted(0, Math.min(16, src.size));
  const magic = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (magic.length >= 4 && ((magic[0] === 0x49 && magic[1] === 0x49) || (magic[0] === 0x4d && magic[1] === 0x4d))) {
    return openGeoTiff({ ...src, read: counted }, name, limits, stats);
  }
  if (magic.length >= 3 && magic[0] === 0xff && magic[1] === 0xd8 && magic[2] === 0xff)
    return openPlain({ ...src, read: counted }, name, 'jpeg', limits, stats, opts);
  if (magic.length >= 8 && magic.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return openPlain({ ...src, read: counted }, name, 'png', limits, stats, opts);
  throw new BadInputError(
    'NotAnImage',
    `${name} is neither a TIFF, a JPEG nor a PNG (first bytes ${magic.subarray(0, 8).toString('hex')})`,
  );
}

// ------------------------------------------------------------------------------------------------
// GeoTIFF

const COMPRESSIONS: Record<number, string> = {
  1: 'none',
  5: 'lzw',
  7: 'jpeg',
  8: 'deflate',
  32946: 'deflate',
  32773: 'packbits',
  34887: 'lerc',
  50000: 'zstd',
};
const KNOWN_UNSUPPORTED: Record<number, string> = {
  2: 'CCITT RLE',
  3: 'CCITT T.4',
  4: 'CCITT T.6',
  6: 'old-style JPEG',
  34712: 'JPEG 2000',
  34925: 'LZMA',
  50001: 'WebP (browser-only decoder)',
  50002: 'JPEG XL',
};

const TYPE_SIZES: Record<number, number> = {
  1: 1,
  2: 1,
  3: 2,
  4: 4,
  5: 8,
  6: 1,
  7: 1,
  8: 2,
  9: 4,
  10: 8,
  11: 4,
  12: 8,
  13: 4,
  16: 8,
  17: 8,
  18: 8,
};
const TAG_NAMES: Record<number, string> = {
  256: 'ImageWidth',
  257: 'ImageLength',
  258: 'BitsPerSample',
  273: 'StripOffsets',
  277: 'SamplesPerPixel',
  279: 'StripByteCounts',
  324: 'TileOffsets',
  325: 'TileByteCounts',
  339: 'SampleFormat',
};

interface IfdEntrySummary {
  tag: number;
  count: number;
  /** Scalar value when stored inline (first value), else undefined. */
  inline?: number;
}

/**
 * Reads the first IFD's entries and checks every out-of-line tag value lies inside the object and under
 * maxTagBytes, before geotiff.js allocates arrays from the counts (it sizes them from the header).
 */
async function checkFirstIfd(
  read: RangeReader,
  size: number,
  name: string,
  limits: RasterLimits,
): Promise<Map<number, IfdEntrySummary>> {
  const h = Buffer.from(await read(0, Math.min(16, size)));
  if (h.length < 8)
    throw new BadInputError('TruncatedRaster', `${name}: ${h.length} bytes, too short for a TIFF header`);
  const le = h[0] === 0x49;
  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const u64 = (b: Buffer, o: number) => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
  const version = u16(h, 2);
  if (version !== 42 && version !== 43)
    throw new BadInputError(
      'NotAnImage',
      `${name}: TIFF byte order mark but version ${version} (neither TIFF 42 nor BigTIFF 43)`,
    );
  const big = version === 43;
  if (big && h.length < 16) throw new BadInputError('TruncatedRaster', `${name}: too short for a BigTIFF header`);
  const ifdOffset = big ? u64(h, 8) : u32(h, 4);
  const countSize = big ? 8 : 2;
  const entrySize = big ? 20 : 12;
  const inlineSize = big ? 8 : 4;
  if (ifdOffset + countSize > size)
    throw new BadInputError(
      'TruncatedRaster',
      `${name}: first IFD at byte ${ifdOffset}, past the end of the ${size}-byte object`,
    );
  const cb = Buffer.from(await read(ifdOffset, countSize));
  const n = big ? u64(cb, 0) : u16(cb, 0);
  if (n === 0 || n > 4096) throw new BadInputError('CorruptRaster', `${name}: first IFD has ${n} entries`);
  const ifdBytes = n * entrySize;
  if (ifdOffset + countSize + ifdBytes > size)
    throw new BadInputError(
      'TruncatedRaster',
      `${name}: IFD of ${n} entries runs past the end of the ${size}-byte object`,
    );
  const ifd = Buffer.from(await read(ifdOffset + countSize, ifdBytes));
  const entries = new Map<number, IfdEntrySummary>();
  for (let i = 0; i < n; i++) {
    const e = i * entrySize;
    const tag = u16(ifd, e);
    const type = u16(ifd, e + 2);
    const count = big ? u64(ifd, e + 4) : u32(ifd, e + 8 - 4);
    const typeSize = TYPE_SIZES[type];
    if (typeSize === undefined)
      throw new BadInputError('CorruptRaster', `${name}: tag ${tag} has unknown field type ${type}`);
    const bytes = count * typeSize;
    const label = TAG_NAMES[tag] ?? `tag ${tag}`;
    const valueAt = e + (big ? 12 : 8);
    let inline: number | undefined;
    if (bytes <= inlineSize) {
      if (count >= 1)
        inline =
          typeSize === 1
            ? ifd[valueAt]
            : typeSize === 2
              ? u16(ifd, valueAt)
              : typeSize === 4
                ? u32(ifd, valueAt)
                : undefined;
    } else {
      const at = big ? u64(ifd, valueAt) : u32(ifd, valueAt);
      if (bytes > limits.maxTagBytes)
        throw new BadInputError(
          'RasterBlockTooLarge',
          `${name}: ${label} holds ${count} values (${bytes} bytes), over the ${limits.maxTagBytes}-byte bound`,
        );
      if (at + bytes > size)
        throw new BadInputError(
          'TruncatedRaster',
          `${name}: ${label} (${count} values at byte ${at}) runs past the end of the ${size}-byte object: the header promises more data than there is`,
        );
    }
    entries.set(tag, { tag, count, inline });
  }
  return entries;
}

/**
 * geotiff.js BaseSource over a RangeReader. Small reads (up to 4 KiB: the header, the IFD, the single tag
 * values that geotiff.js fetches one index at a time, tiny tiles) go through an LRU of 64 KiB blocks so a
 * remote store sees a few requests instead of thousands of 8-byte ones; larger reads (tiles, strips) pass
 * straight through, uncached, so memory stays bounded (at most 64 blocks = 4 MiB cached).
 */
class RangeBlockSource {
  private readonly cache = new Map<number, Promise<Uint8Array>>();
  constructor(
    private readonly read: RangeReader,
    private readonly size: number,
    private readonly name: string,
    private readonly blockSize = 64 * 1024,
    private readonly maxBlocks = 64,
    /** Reads up to this size go through the block cache. */
    private readonly smallRead = 4096,
  ) {}

  get fileSize(): number {
    return this.size;
  }

  async fetch(slices: Array<{ offset: number; length: number }>): Promise<ArrayBuffer[]> {
    return Promise.all(slices.map((s) => this.fetchOne(s.offset, s.length)));
  }

  private block(i: number): Promise<Uint8Array> {
    let p = this.cache.get(i);
    if (p) {
      this.cache.delete(i); // refresh LRU position
      this.cache.set(i, p);
      return p;
    }
    p = this.read(i * this.blockSize, Math.min(this.blockSize, this.size - i * this.blockSize));
    p.catch(() => this.cache.delete(i));
    this.cache.set(i, p);
    while (this.cache.size > this.maxBlocks) this.cache.delete(this.cache.keys().next().value as number);
    return p;
  }

  private async fetchOne(offset: number, length: number): Promise<ArrayBuffer> {
    if (offset >= this.size)
      throw new BadInputError(
        'TruncatedRaster',
        `${this.name}: read at byte ${offset}, past the end of the ${this.size}-byte object`,
      );
    // geotiff.js asks for a fixed 1 KiB (4 KiB BigTIFF) when it does not know a length: clamp at the end.
    const len = Math.min(length, this.size - offset);
    const out = new Uint8Array(len);
    if (len <= this.smallRead) {
      const first = Math.floor(offset / this.blockSize);
      const last = Math.floor((offset + len - 1) / this.blockSize);
      for (let b = first; b <= last; b++) {
        const data = await this.block(b);
        const start = Math.max(offset, b * this.blockSize);
        const end = Math.min(offset + len, b * this.blockSize + data.length);
        if (end > start) out.set(data.subarray(start - b * this.blockSize, end - b * this.blockSize), start - offset);
      }
    } else {
      const data = await this.read(offset, len);
      if (data.length < len)
        throw new BadInputError(
          'TruncatedRaster',
          `${this.name}: ${data.length} of ${len} bytes at ${offset}: the object is shorter than its size`,
        );
      out.set(data);
    }
    return out.buffer;
  }

  async close(): Promise<void> {
    this.cache.clear();
  }
}

function dtypeOf(format: number, bits: number): RasterDtype | null {
  if (format === 1) return bits === 8 ? 'uint8' : bits === 16 ? 'uint16' : bits === 32 ? 'uint32' : null;
  if (format === 2) return bits === 8 ? 'int8' : bits === 16 ? 'int16' : bits === 32 ? 'int32' : null;
  if (format === 3) return bits === 32 ? 'float32' : bits === 64 ? 'float64' : null;
  return null;
}

const DTYPE_BYTES: Record<RasterDtype, number> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  float64: 8,
};

/** Wraps errors of geotiff.js calls: ours and the source's pass through; anything else is the file's fault. */
function isSourceError(err: unknown, sourceErrors: WeakSet<object>): boolean {
  return typeof err === 'object' && err !== null && sourceErrors.has(err);
}

async function openGeoTiff(src: RangeSource, name: string, limits: RasterLimits, stats: ReadStats): Promise<Raster> {
  // Errors thrown by the caller's reader are remembered so they are not mistaken for corrupt data.
  const sourceErrors = new WeakSet<object>();
  const read: RangeReader = async (o, l) => {
    try {
      return await src.read(o, l);
    } catch (err) {
      if (typeof err === 'object' && err !== null) sourceErrors.add(err);
      throw err;
    }
  };
  const classify = (err: unknown, what: string): unknown => {
    if (err instanceof LookoutError || isSourceError(err, sourceErrors)) return err;
    return new BadInputError('CorruptRaster', `${name}: ${what}: ${(err as Error)?.message ?? String(err)}`, err);
  };

  const entries = await checkFirstIfd(read, src.size, name, limits);
  const spp = entries.get(277)?.inline ?? 1;
  if (spp === 0) throw new BadInputError('BadBandCount', `${name}: SamplesPerPixel is 0: the raster has no bands`);
  if (spp > limits.maxBands)
    throw new BadInputError('BadBandCount', `${name}: ${spp} bands, over the limit of ${limits.maxBands}`);
  const compression = entries.get(259)?.inline ?? 1;
  if (!(compression in COMPRESSIONS)) {
    throw new BadInputError(
      'UnsupportedRaster',
      `${name}: compression ${compression}${KNOWN_UNSUPPORTED[compression] ? ` (${KNOWN_UNSUPPORTED[compression]})` : ''} is not supported (supported: ${[...new Set(Object.values(COMPRESSIONS))].join(', ')})`,
    );
  }
  if (!entries.has(256) || !entries.has(257))
    throw new BadInputError('CorruptRaster', `${name}: ImageWidth or ImageLength missing`);
  const tiledTags = entries.has(324) && entries.has(325);
  const stripTags = entries.has(273) && entries.has(279);
  if (!tiledTags && !stripTags)
    throw new BadInputError('CorruptRaster', `${name}: neither tile nor strip offsets and byte counts`);

  const source = new RangeBlockSource(read, src.size, name);
  let tiff: GeoTIFF;
  let image: GeoTIFFImage;
  try {
    tiff = await GeoTIFF.fromSource(source as unknown as Parameters<typeof GeoTIFF.fromSource>[0]);
    image = await tiff.getImage(0);
  } catch (err) {
    throw classify(err, 'header could not be parsed');
  }
  const fd = image.getFileDirectory();
  const width = image.getWidth();
  const height = image.getHeight();
  if (!(width > 0 && height > 0)) throw new BadInputError('CorruptRaster', `${name}: image is ${width} x ${height}`);
  let bits: ArrayLike<number>;
  let formats: ArrayLike<number> | undefined;
  try {
    bits = (await fd.loadValue('BitsPerSample')) as ArrayLike<number>;
    formats = (await fd.loadValue('SampleFormat')) as ArrayLike<number> | undefined;
  } catch (err) {
    throw classify(err, 'BitsPerSample / SampleFormat unreadable');
  }
  if (!bits || bits.length !== spp)
    throw new BadInputError('CorruptRaster', `${name}: ${bits?.length ?? 0} BitsPerSample values for ${spp} bands`);
  const types = Array.from({ length: spp }, (_, i) => dtypeOf(formats?.[i] ?? formats?.[0] ?? 1, bits[i]));
  const dtype = types[0];
  if (dtype === null || types.some((t) => t !== dtype)) {
    const desc = Array.from(
      { length: spp },
      (_, i) => `${['?', 'uint', 'int', 'float'][formats?.[i] ?? 1] ?? `format${formats?.[i]}`}${bits[i]}`,
    );
    throw new BadInputError(
      'UnsupportedRaster',
      `${name}: sample type ${[...new Set(desc)].join('/')} is not supported (one of uint8/16/32, int8/16/32, float32/64 for all bands)`,
    );
  }
  const planar = (image.planarConfiguration === 2 ? 2 : 1) as 1 | 2;
  const blockWidth = image.getTileWidth();
  const blockHeight = image.getTileHeight();
  if (!(blockWidth > 0 && blockHeight > 0))
    throw new BadInputError('CorruptRaster', `${name}: block size ${blockWidth} x ${blockHeight}`);
  const bytesPerBlock = blockWidth * blockHeight * DTYPE_BYTES[dtype] * (planar === 1 ? spp : 1);
  if (bytesPerBlock > limits.maxBlockBytes) {
    throw new BadInputError(
      'RasterBlockTooLarge',
      `${name}: one ${image.isTiled ? 'tile' : 'strip'} of ${blockWidth} x ${blockHeight} decodes to ${bytesPerBlock} bytes, over the ${limits.maxBlockBytes}-byte bound`,
    );
  }
  const blocksAcross = Math.ceil(width / blockWidth);
  const blocksDown = Math.ceil(height / blockHeight);
  const expectedBlocks = blocksAcross * blocksDown * (planar === 2 ? spp : 1);
  const offsetsTag = image.isTiled ? 324 : 273;
  const countsTag = image.isTiled ? 325 : 279;
  const nOffsets = entries.get(offsetsTag)?.count ?? 0;
  if (nOffsets < expectedBlocks || (entries.get(countsTag)?.count ?? 0) < expectedBlocks) {
    throw new BadInputError(
      'TruncatedRaster',
      `${name}: ${width} x ${height} needs ${expectedBlocks} ${image.isTiled ? 'tiles' : 'strips'}, the header lists ${nOffsets}`,
    );
  }
  const offsetsName = image.isTiled ? 'TileOffsets' : 'StripOffsets';
  const countsName = image.isTiled ? 'TileByteCounts' : 'StripByteCounts';
  // Each block's bytes must lie inside the object and be no larger than the decode bound allows (the
  // deflate ratio of real data is far below 1000:1; a "compressed" block bigger than the decoded size is a
  // lie). Checked per block just before it is read: the arrays can hold millions of entries.
  const checkedBlocks = new Set<number>();
  const checkBlock = async (index: number): Promise<void> => {
    if (checkedBlocks.has(index)) return;
    let off: number;
    let cnt: number;
    try {
      off = Number(await fd.loadValueIndexed(offsetsName, index));
      cnt = Number(await fd.loadValueIndexed(countsName, index));
    } catch (err) {
      throw classify(err, `${offsetsName}[${index}] unreadable`);
    }
    if (cnt > 0 && off + cnt > src.size) {
      throw new BadInputError(
        'TruncatedRaster',
        `${name}: ${image.isTiled ? 'tile' : 'strip'} ${index} (${cnt} bytes at ${off}) lies past the end of the ${src.size}-byte object: truncated file or lying header`,
      );
    }
    if (cnt > limits.maxBlockBytes + 65536)
      throw new BadInputError(
        'RasterBlockTooLarge',
        `${name}: ${image.isTiled ? 'tile' : 'strip'} ${index} is ${cnt} bytes compressed, over the bound`,
      );
    // Bounded: a raster of millions of tiles re-checks (cheaply, from cached offset blocks) past this.
    if (checkedBlocks.size < 200_000) checkedBlocks.add(index);
  };
  // Cheap early verdict on a lying header: the last block must exist too.
  await checkBlock(expectedBlocks - 1);
  await checkBlock(0);

  let georef: Georeference;
  try {
    georef = georefFromGeoTiff({
      ModelTiepoint: (await fd.loadValue('ModelTiepoint')) as ArrayLike<number> | undefined,
      ModelPixelScale: (await fd.loadValue('ModelPixelScale')) as ArrayLike<number> | undefined,
      ModelTransformation: (await fd.loadValue('ModelTransformation')) as ArrayLike<number> | undefined,
      geoKeys: fd.hasTag('GeoKeyDirectory') ? await loadGeoKeys(fd) : null,
    });
  } catch (err) {
    if (isSourceError(err, sourceErrors)) throw err;
    georef = {
      status: 'invalid',
      source: 'geotiff',
      reason: `georeference tags unreadable: ${(err as Error).message}`,
    };
  }
  let nodata: number | null = null;
  try {
    const nd = fd.hasTag('GDAL_NODATA') ? String(await fd.loadValue('GDAL_NODATA')) : '';
    const v = Number.parseFloat(nd.replace(/\0/g, '').trim());
    nodata = Number.isFinite(v) || (Number.isNaN(v) && /nan/i.test(nd)) ? v : null;
  } catch {
    nodata = null;
  }

  const info: RasterInfo = {
    format: 'geotiff',
    width,
    height,
    bandCount: spp,
    dtype,
    nodata,
    georef,
    layout: { tiled: image.isTiled, blockWidth, blockHeight, compression: COMPRESSIONS[compression], planar },
  };

  const readWindow = async (w: PixelWindow, bands?: number[]): Promise<WindowData> => {
    checkWindow(w, width, height, limits, name);
    const sel = bandSelection(bands, spp, name);
    const x0 = Math.floor(w.x / blockWidth);
    const x1 = Math.ceil((w.x + w.width) / blockWidth);
    const y0 = Math.floor(w.y / blockHeight);
    const y1 = Math.ceil((w.y + w.height) / blockHeight);
    const planes = planar === 2 ? sel : [0];
    for (const p of planes)
      for (let by = y0; by < y1; by++)
        for (let bx = x0; bx < x1; bx++) await checkBlock(p * blocksAcross * blocksDown + by * blocksAcross + bx);
    let res: unknown;
    try {
      res = await image.readRasters({
        window: [w.x, w.y, w.x + w.width, w.y + w.height],
        samples: sel,
        interleave: false,
      });
    } catch (err) {
      throw classify(err, `window ${w.x},${w.y} ${w.width}x${w.height} could not be decoded`);
    }
    const arrays = res as BandArray[];
    return {
      window: { x: w.x, y: w.y, width: w.width, height: w.height },
      width: w.width,
      height: w.height,
      bands: arrays,
      bandIndices: sel,
      dtype,
      nodata,
    };
  };

  return makeRaster(info, readWindow, stats, async () => {
    await source.close();
  });
}

async function loadGeoKeys(fd: GeoTIFFImage['fileDirectory']): Promise<Record<string, unknown> | null> {
  // parseGeoKeyDirectory reads GeoDoubleParams / GeoAsciiParams synchronously: load them first.
  for (const t of ['GeoKeyDirectory', 'GeoDoubleParams', 'GeoAsciiParams'] as const)
    if (fd.hasTag(t)) await fd.loadValue(t);
  return fd.parseGeoKeyDirectory() as Record<string, unknown> | null;
}

function checkWindow(w: PixelWindow, width: number, height: number, limits: RasterLimits, name: string): void {
  const ok =
    [w.x, w.y, w.width, w.height].every((v) => Number.isInteger(v)) &&
    w.x >= 0 &&
    w.y >= 0 &&
    w.width > 0 &&
    w.height > 0 &&
    w.x + w.width <= width &&
    w.y + w.height <= height;
  if (!ok)
    throw new RangeError(
      `${name}: window ${w.x},${w.y} ${w.width}x${w.height} is not inside the ${width} x ${height} raster`,
    );
  if (w.width * w.height > limits.maxWindowPixels)
    throw new RangeError(
      `${name}: window of ${w.width * w.height} pixels, over the ${limits.maxWindowPixels}-pixel bound`,
    );
}

function bandSelection(bands: number[] | undefined, count: number, name: string): number[] {
  const sel = bands && bands.length > 0 ? bands : Array.from({ length: count }, (_, i) => i);
  for (const b of sel)
    if (!(Number.isInteger(b) && b >= 0 && b < count))
      throw new RangeError(`${name}: band ${b} outside 0..${count - 1}`);
  return sel;
}

function sliceWindow(d: WindowData, w: PixelWindow): WindowData {
  const ox = w.x - d.window.x;
  const oy = w.y - d.window.y;
  const bands = d.bands.map((src) => {
    const out = new (src.constructor as new (n: number) => BandArray)(w.width * w.height);
    for (let r = 0; r < w.height; r++)
      out.set(src.subarray((oy + r) * d.width + ox, (oy + r) * d.width + ox + w.width), r * w.width);
    return out;
  });
  return {
    ...d,
    window: { x: w.x, y: w.y, width: w.width, height: w.height },
    width: w.width,
    height: w.height,
    bands,
  };
}

/** A Raster over a window reader (GeoTIFF, plain image, or a STAC Item's bands in media/stac.ts). */
export function makeRaster(
  info: RasterInfo,
  readWindow: (w: PixelWindow, bands?: number[]) => Promise<WindowData>,
  stats: ReadStats,
  close: () => Promise<void>,
): Raster {
  return {
    ...info,
    chipGrid: (size = 128, overlap = 0) => chipGrid(info.width, info.height, size, overlap),
    readWindow,
    readChip: readWindow,
    readChips: async (ws, bands) => {
      if (ws.length === 0) return [];
      const x0 = Math.min(...ws.map((w) => w.x));
      const y0 = Math.min(...ws.map((w) => w.y));
      const x1 = Math.max(...ws.map((w) => w.x + w.width));
      const y1 = Math.max(...ws.map((w) => w.y + w.height));
      const all = await readWindow({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, bands);
      return ws.map((w) => sliceWindow(all, w));
    },
    footprint: (w, opts) => footprint(info.georef, w, opts),
    placement: (w, opts) => {
      try {
        return { footprint: footprint(info.georef, w, opts), georefStatus: info.georef.status };
      } catch (err) {
        if (err instanceof NoFootprintError) return { footprint: null, georefStatus: err.status, reason: err.message };
        if (err instanceof LookoutError)
          return { footprint: null, georefStatus: info.georef.status, reason: err.message };
        throw err;
      }
    },
    stats: () => ({ ...stats }),
    close,
  };
}

/** What a per-raster summary row needs: size, bands, georeference and the whole raster's footprint. */
export interface RasterSummary {
  format: RasterInfo['format'];
  width: number;
  height: number;
  bandCount: number;
  dtype: RasterDtype;
  nodata: number | null;
  tiled: boolean;
  compression: string;
  georefStatus: Georeference['status'];
  georefSource: Georeference['source'];
  georefReason: string | null;
  epsg: number | null;
  crsName: string | null;
  /** Ground size of a pixel in CRS units (metres for UTM / Web Mercator, degrees for WGS 84). */
  pixelSizeX: number | null;
  pixelSizeY: number | null;
  /** The whole raster's footprint (edges densified every 256 px), or null with georefReason. */
  footprintWkt: string | null;
  minLon: number | null;
  minLat: number | null;
  maxLon: number | null;
  maxLat: number | null;
  chipSize: number;
  chipOverlap: number;
  chips: number;
  clippedChips: number;
}

export function rasterSummary(r: Raster, chipSize = 128, overlap = 0): RasterSummary {
  const grid = r.chipGrid(chipSize, overlap);
  // Clipped chips are the last column and the last row (when those are short): no need to list them all.
  const lastW = grid.window(grid.cols - 1, 0).width;
  const lastH = grid.window(0, grid.rows - 1).height;
  const clippedCols = lastW < chipSize ? 1 : 0;
  const clippedRows = lastH < chipSize ? 1 : 0;
  const clipped = clippedCols * grid.rows + clippedRows * grid.cols - clippedCols * clippedRows;
  const p = r.placement({ x: 0, y: 0, width: r.width, height: r.height });
  const px = r.georef.transform ? pixelSize(r.georef.transform) : null;
  return {
    format: r.format,
    width: r.width,
    height: r.height,
    bandCount: r.bandCount,
    dtype: r.dtype,
    nodata: r.nodata,
    tiled: r.layout.tiled,
    compression: r.layout.compression,
    georefStatus: p.georefStatus,
    georefSource: r.georef.source,
    georefReason: p.reason ?? r.georef.reason ?? null,
    epsg: r.georef.epsg ?? null,
    crsName: r.georef.crsName ?? null,
    pixelSizeX: px?.x ?? null,
    pixelSizeY: px?.y ?? null,
    footprintWkt: p.footprint?.wkt ?? null,
    minLon: p.footprint?.minLon ?? null,
    minLat: p.footprint?.minLat ?? null,
    maxLon: p.footprint?.maxLon ?? null,
    maxLat: p.footprint?.maxLat ?? null,
    chipSize,
    chipOverlap: overlap,
    chips: grid.count,
    clippedChips: clipped,
  };
}

// ------------------------------------------------------------------------------------------------
// JPEG / PNG

async function openPlain(
  src: RangeSource,
  name: string,
  format: 'jpeg' | 'png',
  limits: RasterLimits,
  stats: ReadStats,
  opts: OpenRasterOptions,
): Promise<Raster> {
  if (src.size > limits.maxPlainImageBytes) {
    throw new BadInputError(
      'ObjectTooLarge',
      `${name}: a ${format.toUpperCase()} cannot be read in ranges and this one is ${src.size} bytes, over the ${limits.maxPlainImageBytes}-byte bound (convert it to a tiled GeoTIFF)`,
    );
  }
  const bytes = Buffer.from(await src.read(0, src.size));
  if (bytes.length < src.size)
    throw new BadInputError('TruncatedRaster', `${name}: ${bytes.length} of ${src.size} bytes`);
  let data: Buffer;
  let info: sharp.OutputInfo;
  try {
    const meta = await sharp(bytes, { limitInputPixels: limits.maxPlainImagePixels, failOn: 'error' }).metadata();
    if (!meta.width || !meta.height) throw new Error('no dimensions');
    ({ data, info } = await sharp(bytes, { limitInputPixels: limits.maxPlainImagePixels, failOn: 'error' })
      .raw()
      .toBuffer({ resolveWithObject: true }));
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    if (/pixel limit/i.test(msg))
      throw new BadInputError('TooManyPixels', `${name}: over ${limits.maxPlainImagePixels} pixels: ${msg}`, err);
    throw new BadInputError('CorruptImage', `${name}: ${format} could not be decoded: ${msg}`, err);
  }
  const { width, height, channels } = info;
  const georef: Georeference =
    opts.worldFile !== undefined
      ? georefFromWorldFile(opts.worldFile, { prj: opts.prj, epsg: opts.epsg })
      : { status: 'missing', source: 'none', reason: `${format} without a world file` };
  const raster: RasterInfo = {
    format,
    width,
    height,
    bandCount: channels,
    dtype: 'uint8',
    nodata: null,
    georef,
    layout: { tiled: false, blockWidth: width, blockHeight: height, compression: format, planar: 1 },
  };
  const readWindow = async (w: PixelWindow, bands?: number[]): Promise<WindowData> => {
    checkWindow(w, width, height, limits, name);
    const sel = bandSelection(bands, channels, name);
    const out = sel.map(() => new Uint8Array(w.width * w.height));
    for (let r = 0; r < w.height; r++) {
      for (let c = 0; c < w.width; c++) {
        const p = ((w.y + r) * width + w.x + c) * channels;
        sel.forEach((b, k) => (out[k][r * w.width + c] = data[p + b]));
      }
    }
    return {
      window: { ...w },
      width: w.width,
      height: w.height,
      bands: out,
      bandIndices: sel,
      dtype: 'uint8',
      nodata: null,
    };
  };
  return makeRaster(raster, readWindow, stats, async () => {});
}

/**
 * Image decoding with sharp, with the bad-input checks that turn a corrupt,
 * empty, huge or non-image object into a stable error class, and a pixel
 * budget shared by concurrent decodes (media/pixel-budget.ts): the header is
 * read first (cheap), then the decode waits until its width x height fits.
 */
import sharp from 'sharp';
import { BadInputError } from '../core/errors';
import { PixelBudget } from './pixel-budget';
import { timeAsync } from '../runtime/steps';

export interface DecodedImage {
  /** Raw interleaved RGB, 8 bits per channel. */
  data: Buffer;
  width: number;
  height: number;
  /** Format sharp detected (jpeg, png, webp, tiff, ...). */
  format: string;
}

export interface DecodeLimits {
  maxPixels: number;
  /**
   * Pixels all decodes in flight may hold together: a PixelBudget, or a total (one process-wide budget per
   * total; the worker passes LOOKOUT_DECODE_PIXEL_BUDGET). Unset: unbounded. The budget covers the decode;
   * the returned raster (3 bytes a pixel) is the caller's to drop.
   */
  pixelBudget?: PixelBudget | number;
}

// sharp (libvips) reports every decode failure as a plain Error whose message is the only clue; it is read here,
// at the boundary, once, and turned into a typed BadInputError. Nothing downstream looks at message text.
const NOT_IMAGE =
  /unsupported image format|Input buffer contains unsupported|Input file is missing|bad seek|not a known file format/i;
const TOO_MANY = /exceeds pixel limit/i;

function classify(err: unknown): BadInputError {
  const msg = (err as Error)?.message ?? String(err);
  if (TOO_MANY.test(msg))
    return new BadInputError('TooManyPixels', `image has more pixels than the limit: ${msg}`, err);
  if (NOT_IMAGE.test(msg)) return new BadInputError('NotAnImage', `object is not a decodable image: ${msg}`, err);
  return new BadInputError('CorruptImage', `image could not be decoded: ${msg}`, err);
}

/** Decodes to raw RGB. Truncated or corrupt data fails (failOn 'error' catches premature end of data). */
export async function decodeImage(buf: Buffer, limits: DecodeLimits): Promise<DecodedImage> {
  if (buf.length === 0) throw new BadInputError('EmptyObject', 'object is empty (0 bytes)');
  let meta: sharp.Metadata;
  try {
    meta = await sharp(buf, { limitInputPixels: limits.maxPixels, failOn: 'error' }).metadata();
  } catch (err) {
    throw classify(err);
  }
  if (!meta.width || !meta.height) throw new BadInputError('NotAnImage', 'object has no image dimensions');
  if (meta.width * meta.height > limits.maxPixels) {
    throw new BadInputError(
      'TooManyPixels',
      `image is ${meta.width}x${meta.height} = ${meta.width * meta.height} pixels, over the limit of ${limits.maxPixels}`,
    );
  }
  const decode = async (): Promise<DecodedImage> => {
    try {
      const { data, info } = await sharp(buf, { limitInputPixels: limits.maxPixels, failOn: 'error' })
        .rotate() // honour EXIF orientation
        .removeAlpha()
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
      return { data, width: info.width, height: info.height, format: meta.format ?? 'unknown' };
    } catch (err) {
      throw classify(err);
    }
  };
  const budget = typeof limits.pixelBudget === 'number' ? PixelBudget.shared(limits.pixelBudget) : limits.pixelBudget;
  return timeAsync('decode', () => (budget ? budget.run(meta.width * meta.height, decode) : decode()));
}

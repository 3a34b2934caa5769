/**
 * raster-change: per-chip change between two co-registered acquisitions of one area (spectral index
 * differences + deep-feature distance), cloud fraction, and novelty against an archive's normal bank; plus
 * the heatmap PNG and GeoJSON writers for the results. A pure API: reading (media/raster.ts), the models
 * (runtime/) and the kNN bank (runtime/knn.ts) come in as arguments, so activities wire it and tests can
 * pass fakes. See README.md for what each score means and how it was evaluated.
 */
import { BadInputError } from '../../core/errors';
import type { ChipWindow, Raster, RasterInfo, WindowData } from '../../media/raster';
import { chipCloudFraction, type ChipCloud, type CloudModel, type CloudOptions } from './cloud';
import { chipToRgb01, cosineDistance, type FeatureExtractor, type Stretch } from './deep';
import { spectralChange, type BandRoles, type SpectralChange } from './spectral';

export * from './cloud';
export * from './deep';
export * from './geojson';
export * from './heatmap';
export * from './novelty';
export * from './spectral';

/**
 * Throws BadInputError('NotCoRegistered') unless the two rasters share one pixel grid: same size, same
 * transform (to a hundredth of a pixel) and same CRS. Chip-by-chip comparison is meaningless otherwise.
 */
export function assertCoRegistered(a: RasterInfo, b: RasterInfo): void {
  const why: string[] = [];
  if (a.width !== b.width || a.height !== b.height) why.push(`size ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  const ta = a.georef.transform;
  const tb = b.georef.transform;
  if (ta && tb) {
    const px = Math.max(Math.hypot(ta[0], ta[3]), Math.hypot(ta[1], ta[4]));
    if (ta.some((v, i) => Math.abs(v - tb[i]) > 0.01 * px))
      why.push(`transforms differ ([${ta.join(', ')}] vs [${tb.join(', ')}])`);
    if (a.georef.epsg !== b.georef.epsg || a.georef.proj4 !== b.georef.proj4)
      why.push(`CRS EPSG:${a.georef.epsg ?? '?'} vs EPSG:${b.georef.epsg ?? '?'}`);
  } else if (ta || tb) {
    why.push('one acquisition is georeferenced, the other not');
  }
  if (why.length > 0)
    throw new BadInputError('NotCoRegistered', `acquisitions are not co-registered: ${why.join('; ')}`);
}

export interface ChangeOptions {
  roles: BandRoles;
  /** Deep change: a backbone, the chip's [r, g, b] band indices and a stretch per acquisition. */
  deep?: { extractor: FeatureExtractor; rgb: [number, number, number]; stretchBefore: Stretch; stretchAfter: Stretch };
  /** Cloud fraction of each acquisition: the model and the indices of its ten bands. */
  cloud?: { model: CloudModel; bandIndices: number[]; options?: CloudOptions };
}

export interface ChipChange {
  window: ChipWindow;
  spectral: SpectralChange;
  /** Cosine distance of the backbone features (null without a backbone). */
  deepDistance: number | null;
  /** Features of each acquisition (for a novelty bank), when a backbone ran. */
  featuresBefore?: Float32Array;
  featuresAfter?: Float32Array;
  cloudBefore: ChipCloud | null;
  cloudAfter: ChipCloud | null;
}

/** Change of one chip from its pixels in both acquisitions (the same window of co-registered rasters). */
export async function chipChange(
  window: ChipWindow,
  before: WindowData,
  after: WindowData,
  opts: ChangeOptions,
): Promise<ChipChange> {
  const spectral = spectralChange(before, after, opts.roles);
  let deepDistance: number | null = null;
  let featuresBefore: Float32Array | undefined;
  let featuresAfter: Float32Array | undefined;
  if (opts.deep) {
    const { extractor, rgb, stretchBefore, stretchAfter } = opts.deep;
    featuresBefore = await extractor.embed(chipToRgb01(before, rgb, stretchBefore, extractor.inputSize));
    featuresAfter = await extractor.embed(chipToRgb01(after, rgb, stretchAfter, extractor.inputSize));
    deepDistance = cosineDistance(featuresBefore, featuresAfter);
  }
  const cloudBefore = opts.cloud
    ? await chipCloudFraction(before, opts.cloud.bandIndices, opts.cloud.model, opts.cloud.options)
    : null;
  const cloudAfter = opts.cloud
    ? await chipCloudFraction(after, opts.cloud.bandIndices, opts.cloud.model, opts.cloud.options)
    : null;
  return { window, spectral, deepDistance, featuresBefore, featuresAfter, cloudBefore, cloudAfter };
}

/**
 * Change of a block of chips: one read per acquisition (readChips), then chipChange per chip. The unit an
 * activity processes; a chip that fails is the caller's to record (the whole block's read fails together).
 */
export async function blockChange(
  before: Raster,
  after: Raster,
  chips: ChipWindow[],
  opts: ChangeOptions,
  bands?: number[],
): Promise<ChipChange[]> {
  assertCoRegistered(before, after);
  const [a, b] = await Promise.all([before.readChips(chips, bands), after.readChips(chips, bands)]);
  const out: ChipChange[] = [];
  for (let i = 0; i < chips.length; i++) out.push(await chipChange(chips[i], a[i], b[i], opts));
  return out;
}

/**
 * Spectral indices per chip and their change between two co-registered acquisitions.
 *
 * Which index a raster allows depends on its bands, named by role (blue, green, red, nir, swir1, swir2):
 *   NDVI = (nir - red) / (nir + red)          vegetation (loss: clearing, burn)
 *   NBR  = (nir - swir2) / (nir + swir2)      burn severity (dNBR = NBR_before - NBR_after, USGS convention)
 *   NDWI = (green - nir) / (green + nir)      open water (McFeeters 1996; rise: flood)
 *   GLI  = (2g - r - b) / (2g + r + b)        green leaf index: the visible-only vegetation proxy for RGB
 * Ratios of band values, so they do not depend on the scale of the digital numbers (uint8 DN, uint16
 * reflectance x 10000, float reflectance all work) as long as 0 means no signal.
 *
 * Change is measured per pixel, then averaged over the chip's valid pixels: averaging first would let a
 * burnt half and a greened half of one chip cancel out.
 */

/** Band indices (into the chip's bands) for each spectral role the raster has. */
export interface BandRoles {
  blue?: number;
  green?: number;
  red?: number;
  nir?: number;
  swir1?: number;
  swir2?: number;
}

export type SpectralIndex = 'ndvi' | 'nbr' | 'ndwi' | 'gli';
export const SPECTRAL_INDICES: readonly SpectralIndex[] = ['ndvi', 'nbr', 'ndwi', 'gli'];

const NEEDS: Record<SpectralIndex, Array<keyof BandRoles>> = {
  ndvi: ['nir', 'red'],
  nbr: ['nir', 'swir2'],
  ndwi: ['green', 'nir'],
  gli: ['red', 'green', 'blue'],
};

/** The indices the roles allow. */
export function availableIndices(roles: BandRoles): SpectralIndex[] {
  return SPECTRAL_INDICES.filter((i) => NEEDS[i].every((r) => roles[r] !== undefined));
}

/** Sentinel-2 band names -> roles (B02 blue, B03 green, B04 red, B08 nir, B11 swir1, B12 swir2). */
const S2: Record<string, keyof BandRoles> = {
  B02: 'blue',
  B03: 'green',
  B04: 'red',
  B08: 'nir',
  B11: 'swir1',
  B12: 'swir2',
};
/** Landsat 4-7 TM/ETM+ (B1 blue, B2 green, B3 red, B4 nir, B5 swir1, B7 swir2). */
const LANDSAT_TM: Record<string, keyof BandRoles> = {
  B1: 'blue',
  B2: 'green',
  B3: 'red',
  B4: 'nir',
  B5: 'swir1',
  B7: 'swir2',
};

/** Roles from band names (Sentinel-2 "B04", Landsat "B4", or plain "red"/"nir"/...); unknown names are ignored. */
export function rolesFromNames(
  names: readonly string[],
  family: 'sentinel2' | 'landsat-tm' | 'names' = 'sentinel2',
): BandRoles {
  const table = family === 'sentinel2' ? S2 : family === 'landsat-tm' ? LANDSAT_TM : null;
  const roles: BandRoles = {};
  names.forEach((n, i) => {
    const key = n.trim().toUpperCase();
    const role = table
      ? table[key]
      : (['blue', 'green', 'red', 'nir', 'swir1', 'swir2'] as const).find((r) => r.toUpperCase() === key);
    if (role && roles[role] === undefined) roles[role] = i;
  });
  return roles;
}

/** Landsat 7 ETM+ as r-cran-stars ships it (L7_ETMs.tif: bands 1, 2, 3, 4, 5, 7). */
export const LANDSAT7_ETM_6BAND: BandRoles = { blue: 0, green: 1, red: 2, nir: 3, swir1: 4, swir2: 5 };
/** A plain RGB raster (aerial photos, true-colour composites). */
export const RGB_ROLES: BandRoles = { red: 0, green: 1, blue: 2 };

/** The pixels of one chip: one array per band, width x height, with the raster's nodata value. */
export interface ChipPixels {
  width: number;
  height: number;
  bands: ArrayLike<number>[];
  nodata?: number | null;
}

function ratio(a: number, b: number): number {
  const d = a + b;
  return d === 0 ? NaN : (a - b) / d;
}

/** Per-pixel index map (NaN where invalid: nodata, non-finite, zero denominator). */
export function indexMap(chip: ChipPixels, roles: BandRoles, index: SpectralIndex): Float32Array {
  const n = chip.width * chip.height;
  const out = new Float32Array(n).fill(NaN);
  const need = NEEDS[index];
  if (!need.every((r) => roles[r] !== undefined)) return out;
  const band = (r: keyof BandRoles) => chip.bands[roles[r] as number];
  const nd = chip.nodata;
  const ok = (v: number) => Number.isFinite(v) && (nd === null || nd === undefined || v !== nd);
  const [b0, b1, b2] = need.map(band);
  for (let i = 0; i < n; i++) {
    const x = b0[i];
    const y = b1[i];
    if (!ok(x) || !ok(y)) continue;
    if (index === 'gli') {
      const z = b2[i];
      if (!ok(z)) continue;
      // (2g - r - b) / (2g + r + b) with b0 = red, b1 = green, b2 = blue
      const d = 2 * y + x + z;
      out[i] = d === 0 ? NaN : (2 * y - x - z) / d;
    } else {
      out[i] = ratio(x, y);
    }
  }
  return out;
}

export interface ChipIndices {
  /** Mean of each available index over the chip's valid pixels (null: none valid). */
  mean: Partial<Record<SpectralIndex, number | null>>;
  /** Share of pixels valid for every available index. */
  validFraction: number;
}

function meanValid(m: Float32Array): { mean: number | null; valid: number } {
  let s = 0;
  let n = 0;
  for (let i = 0; i < m.length; i++) {
    const v = m[i];
    if (v === v) {
      s += v;
      n++;
    }
  }
  return { mean: n > 0 ? s / n : null, valid: n };
}

/** Mean spectral indices of one chip. */
export function chipIndices(chip: ChipPixels, roles: BandRoles): ChipIndices {
  const mean: ChipIndices['mean'] = {};
  let minValid = chip.width * chip.height;
  for (const idx of availableIndices(roles)) {
    const r = meanValid(indexMap(chip, roles, idx));
    mean[idx] = r.mean;
    minValid = Math.min(minValid, r.valid);
  }
  return { mean, validFraction: availableIndices(roles).length > 0 ? minValid / (chip.width * chip.height) : 0 };
}

export interface SpectralChange {
  /** Per index, over pixels valid in both acquisitions: mean(after - before). */
  meanDelta: Partial<Record<SpectralIndex, number | null>>;
  /** Per index: mean |after - before| (the change magnitude, whatever its sign). */
  meanAbsDelta: Partial<Record<SpectralIndex, number | null>>;
  /** Directional evidence, positive when the named change is present (null where the bands do not allow it). */
  evidence: {
    /** dNBR = NBR_before - NBR_after, chip mean. */
    burn: number | null;
    /** NDWI_after - NDWI_before. */
    flood: number | null;
    /** NDVI_before - NDVI_after (GLI where there is no NIR). */
    vegetationLoss: number | null;
  };
  /** One number to rank chips by: the largest mean |delta| over the available indices (null: no index). */
  score: number | null;
  /** Pixels valid in both acquisitions for every available index. */
  validFraction: number;
}

/** Spectral change between the same chip window of two co-registered acquisitions. */
export function spectralChange(before: ChipPixels, after: ChipPixels, roles: BandRoles): SpectralChange {
  if (before.width !== after.width || before.height !== after.height)
    throw new RangeError(`chips differ in size: ${before.width}x${before.height} vs ${after.width}x${after.height}`);
  const n = before.width * before.height;
  const meanDelta: SpectralChange['meanDelta'] = {};
  const meanAbsDelta: SpectralChange['meanAbsDelta'] = {};
  let minValid = n;
  let score: number | null = null;
  const indices = availableIndices(roles);
  for (const idx of indices) {
    const a = indexMap(before, roles, idx);
    const b = indexMap(after, roles, idx);
    let s = 0;
    let sa = 0;
    let k = 0;
    for (let i = 0; i < n; i++) {
      const d = b[i] - a[i];
      if (d === d) {
        s += d;
        sa += Math.abs(d);
        k++;
      }
    }
    meanDelta[idx] = k > 0 ? s / k : null;
    meanAbsDelta[idx] = k > 0 ? sa / k : null;
    minValid = Math.min(minValid, k);
    if (k > 0) score = Math.max(score ?? 0, sa / k);
  }
  const d = (i: SpectralIndex) => meanDelta[i] ?? null;
  const neg = (v: number | null) => (v === null ? null : -v);
  return {
    meanDelta,
    meanAbsDelta,
    evidence: {
      burn: neg(d('nbr')),
      flood: d('ndwi'),
      vegetationLoss: d('ndvi') !== null ? neg(d('ndvi')) : neg(d('gli')),
    },
    score,
    validFraction: indices.length > 0 ? minValid / n : 0,
  };
}

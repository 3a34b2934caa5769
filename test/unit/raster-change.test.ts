import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../core/errors';
import { footprint, georefFromGeoTiff } from '../../media/georef';
import { bufferRangeSource, chipGrid, openRaster } from '../../media/raster';
import { blocksFromBands, epsgGeoKeys, writeTiffBuffer } from '../../media/tiff-writer';
import {
  assertCoRegistered,
  availableIndices,
  blockChange,
  chipCloudFraction,
  chipFeatureCollection,
  chipIndices,
  chipToRgb01,
  cosineDistance,
  indexMap,
  inferno,
  LANDSAT7_ETM_6BAND,
  noveltyScores,
  percentileStretch,
  PreviewBuilder,
  renderHeatmap,
  rolesFromNames,
  s2cloudlessBandIndices,
  spectralChange,
  type ChipPixels,
  type CloudModel,
  type FeatureExtractor,
  type NoveltyBank,
} from '../../methods/raster-change';

/** A chip of 6 Landsat-like bands, every pixel the same values. */
function flat(values: number[], w = 4, h = 4, nodata: number | null = null): ChipPixels {
  return { width: w, height: h, nodata, bands: values.map((v) => new Array<number>(w * h).fill(v)) };
}

// Reflectances x 100: vegetation, burnt, water.
const VEG = [4, 7, 5, 40, 20, 10];
const BURNT = [3, 4, 5, 10, 22, 30];
const WATER = [6, 5, 3, 1, 1, 0.5];

describe('spectral indices', () => {
  it('computes NDVI / NBR / NDWI / GLI per pixel and refuses what the bands do not allow', () => {
    const roles = LANDSAT7_ETM_6BAND;
    expect(availableIndices(roles)).toEqual(['ndvi', 'nbr', 'ndwi', 'gli']);
    expect(availableIndices({ red: 0, green: 1, blue: 2 })).toEqual(['gli']);
    const veg = chipIndices(flat(VEG), roles);
    expect(veg.mean.ndvi).toBeCloseTo((40 - 5) / (40 + 5), 6);
    expect(veg.mean.nbr).toBeCloseTo((40 - 10) / (40 + 10), 6);
    expect(veg.mean.ndwi).toBeCloseTo((7 - 40) / (7 + 40), 6);
    expect(veg.mean.gli).toBeCloseTo((14 - 5 - 4) / (14 + 5 + 4), 6);
    expect(veg.validFraction).toBe(1);
    expect(chipIndices(flat(WATER), roles).mean.ndwi).toBeGreaterThan(0.6);
    // Nodata and zero denominators are excluded, not counted as 0.
    const c = flat(VEG, 2, 1, 0);
    (c.bands[3] as number[])[1] = 0;
    const m = indexMap(c, roles, 'ndvi');
    expect(m[0]).toBeCloseTo(35 / 45, 6);
    expect(Number.isNaN(m[1])).toBe(true);
    expect(chipIndices(c, roles).validFraction).toBe(0.5);
  });

  it('change: burn raises dNBR, flood raises NDWI, clearing lowers NDVI; no change scores 0', () => {
    const roles = LANDSAT7_ETM_6BAND;
    const burn = spectralChange(flat(VEG), flat(BURNT), roles);
    expect(burn.evidence.burn).toBeGreaterThan(0.5);
    expect(burn.evidence.vegetationLoss).toBeGreaterThan(0.3);
    const flood = spectralChange(flat(VEG), flat(WATER), roles);
    expect(flood.evidence.flood).toBeGreaterThan(1);
    const same = spectralChange(flat(VEG), flat(VEG.map((v) => v * 1.1)), roles);
    // A gain change alone leaves ratio indices unchanged.
    expect(same.score).toBeCloseTo(0, 6);
    expect(burn.score).toBeGreaterThan(0.5);
    // Half the chip burnt, half greener: the per-pixel magnitude does not cancel out.
    const mixed = flat(VEG, 2, 1);
    mixed.bands.forEach((b, k) => ((b as number[])[0] = BURNT[k]));
    mixed.bands.forEach((b, k) => ((b as number[])[1] = [4, 8, 3, 50, 20, 8][k]));
    const m = spectralChange(flat(VEG, 2, 1), mixed, roles);
    expect(m.meanAbsDelta.ndvi).toBeGreaterThan(1.5 * Math.abs(m.meanDelta.ndvi ?? 0));
    expect(() => spectralChange(flat(VEG, 2, 2), flat(VEG, 3, 3), roles)).toThrow(RangeError);
  });

  it('band roles from Sentinel-2 and Landsat names', () => {
    expect(
      rolesFromNames(['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B11', 'B12']),
    ).toEqual({ blue: 1, green: 2, red: 3, nir: 7, swir1: 10, swir2: 11 });
    expect(rolesFromNames(['B1', 'B2', 'B3', 'B4', 'B5', 'B7'], 'landsat-tm')).toEqual(LANDSAT7_ETM_6BAND);
    expect(rolesFromNames(['red', 'green', 'blue'], 'names')).toEqual({ red: 0, green: 1, blue: 2 });
  });
});

describe('deep features and novelty', () => {
  it('stretches and resizes a chip to planar RGB in [0, 1]', () => {
    const chip: ChipPixels = {
      width: 2,
      height: 2,
      nodata: 0,
      bands: [
        [0, 100, 200, 300],
        [100, 100, 100, 100],
        [50, 50, 50, 50],
      ],
    };
    const s = { min: [100, 0, 0] as [number, number, number], max: [300, 200, 100] as [number, number, number] };
    const out = chipToRgb01(chip, [0, 1, 2], s, 2);
    expect(Array.from(out.subarray(0, 4))).toEqual([0, 0, 0.5, 1]); // nodata 0 -> 0, 100 -> 0, 200 -> 0.5, 300 -> 1
    expect(out[4]).toBeCloseTo(0.5, 6);
    expect(out[8]).toBeCloseTo(0.5, 6);
    expect(chipToRgb01(chip, [0, 1, 2], s, 8)).toHaveLength(3 * 64);
    const p = percentileStretch([Array.from({ length: 101 }, (_, i) => i), [5, 5], [0, 1, 2]]);
    expect([p.min[0], p.max[0]]).toEqual([2, 98]);
    expect([p.min[1], p.max[1]]).toEqual([5, 6]); // constant band: a unit span, not a division by zero
  });

  it('cosine distance and kNN novelty through the bank interface', () => {
    expect(cosineDistance([1, 0], [2, 0])).toBeCloseTo(0, 9);
    expect(cosineDistance([1, 0], [0, 1])).toBeCloseTo(1, 9);
    expect(cosineDistance([1, 0], [-1, 0])).toBeCloseTo(2, 9);
    const normals = [
      [0, 0],
      [1, 0],
      [0, 1],
    ];
    const bank: NoveltyBank = {
      dim: 2,
      count: normals.length,
      query: (v, k = 1) => ({
        distance:
          normals
            .map((n) => Math.hypot(n[0] - v[0], n[1] - v[1]))
            .sort((a, b) => a - b)
            .slice(0, k)
            .reduce((a, b) => a + b, 0) / k,
      }),
    };
    const s = noveltyScores(
      [
        [0.1, 0],
        [5, 5],
      ],
      bank,
    );
    expect(s[0]).toBeCloseTo(0.1, 9);
    expect(s[1]).toBeGreaterThan(5);
    expect(() => noveltyScores([[1, 2, 3]], bank)).toThrow(RangeError);
  });
});

describe('cloud fraction', () => {
  it('feeds the ten s2cloudless bands as reflectance and thresholds the probabilities', async () => {
    const names = ['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B10', 'B11', 'B12'];
    const { indices } = s2cloudlessBandIndices(names);
    expect(indices).toEqual([0, 1, 3, 4, 7, 8, 9, 10, 11, 12]);
    expect(s2cloudlessBandIndices(names.filter((n) => n !== 'B10')).missing).toEqual(['B10']);
    // A fake model: "cloud" when the blue reflectance (2nd feature) is above 0.3.
    const seen: number[] = [];
    const model: CloudModel = {
      name: 'fake',
      probabilities: async (f, n) => {
        seen.push(f[1]);
        return Float32Array.from({ length: n }, (_, i) => (f[i * 10 + 1] > 0.3 ? 0.9 : 0.1));
      },
    };
    const w = 4;
    const bands = names.map(() => new Array<number>(16).fill(1000));
    for (let i = 0; i < 8; i++) bands[1][i] = 5000; // top half bright in B02
    const r = await chipCloudFraction({ width: w, height: 4, bands, nodata: null }, indices!, model, { stride: 1 });
    expect(r?.fraction).toBe(0.5);
    expect(r?.pixels).toBe(16);
    expect(seen[0]).toBeCloseTo(0.5, 6); // 5000 DN -> 0.5 reflectance
    bands.forEach((b) => b.fill(0));
    expect(await chipCloudFraction({ width: w, height: 4, bands, nodata: 0 }, indices!, model)).toBeNull();
  });
});

describe('blocks of co-registered rasters', () => {
  const W = 96;
  const H = 64;
  const geo = { tiepoint: [0, 0, 0, 500000, 4000000, 0], pixelScale: [30, 30, 0], geoKeys: epsgGeoKeys(32611) };
  const bandsWith = (burnt: (x: number, y: number) => boolean) =>
    [0, 1, 2, 3, 4, 5].map((k) =>
      Array.from({ length: W * H }, (_, i) => (burnt(i % W, Math.floor(i / W)) ? BURNT[k] : VEG[k]) * 100),
    );
  const tif = (bands: number[][], g = geo) =>
    writeTiffBuffer({
      width: W,
      height: H,
      bands: 6,
      type: 'uint16',
      tileSize: 32,
      compression: 'deflate',
      geo: g,
      block: blocksFromBands(bands, W, H, 'uint16'),
    });

  it('scores the changed chip highest, spectral and deep, and refuses grids that differ', async () => {
    const before = await openRaster(bufferRangeSource(tif(bandsWith(() => false))));
    const after = await openRaster(bufferRangeSource(tif(bandsWith((x, y) => x >= 32 && x < 64 && y < 32))));
    // A stand-in backbone: mean of each channel (enough to see a colour change).
    const extractor: FeatureExtractor = {
      name: 'means',
      inputSize: 8,
      embed: async (rgb) =>
        Float32Array.from([0, 1, 2], (c) => rgb.subarray(c * 64, (c + 1) * 64).reduce((a, b) => a + b, 0) / 64 + 0.01),
    };
    const stretch = { min: [0, 0, 0] as [number, number, number], max: [3000, 3000, 3000] as [number, number, number] };
    const chips = chipGrid(W, H, 32).windows();
    const res = await blockChange(before, after, chips, {
      roles: LANDSAT7_ETM_6BAND,
      deep: { extractor, rgb: [2, 1, 0], stretchBefore: stretch, stretchAfter: stretch },
    });
    const changed = res.find((r) => r.window.col === 1 && r.window.row === 0)!;
    for (const r of res) {
      if (r === changed) continue;
      expect(r.spectral.score).toBeCloseTo(0, 6);
      expect(r.deepDistance).toBeCloseTo(0, 6);
    }
    expect(changed.spectral.evidence.burn).toBeGreaterThan(0.5);
    expect(changed.deepDistance).toBeGreaterThan(0.001);
    const shifted = await openRaster(
      bufferRangeSource(
        tif(
          bandsWith(() => false),
          { ...geo, tiepoint: [0, 0, 0, 500090, 4000000, 0] },
        ),
      ),
    );
    await expect(blockChange(before, shifted, chips, { roles: LANDSAT7_ETM_6BAND })).rejects.toThrow(
      expect.objectContaining({ errorClass: 'NotCoRegistered' }),
    );
    expect(() => assertCoRegistered(before, { ...before, width: 10 })).toThrow(BadInputError);
  });
});

describe('heatmap and GeoJSON', () => {
  it('draws the scores over the preview: the high chip is bright, the null chip uncoloured', async () => {
    const pb = new PreviewBuilder(256, 128, 1, 64);
    expect([pb.width, pb.height, pb.scale]).toEqual([64, 32, 4]);
    const gray = new Array<number>(128 * 128).fill(0).map((_, i) => i % 128);
    pb.add({ x: 0, y: 0, width: 128, height: 128 }, [gray]);
    pb.add({ x: 128, y: 0, width: 128, height: 128 }, [gray]);
    const img = pb.toImage();
    expect(img.data[0]).toBeLessThan(img.data[31]); // the gradient survives
    const { png, range } = await renderHeatmap(
      256,
      128,
      [
        { window: { x: 0, y: 0, width: 128, height: 128 }, score: 0 },
        { window: { x: 128, y: 0, width: 64, height: 128 }, score: 1 },
        { window: { x: 192, y: 0, width: 64, height: 128 }, score: null },
      ],
      img,
      { alpha: 1 },
    );
    expect(range).toEqual([0, 1]);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([64, 32]);
    const px = (x: number, y: number) => Array.from(data.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3));
    expect(px(40, 10)).toEqual(inferno(1));
    expect(px(5, 10)).toEqual(inferno(0));
    const [r, g, b] = px(60, 10);
    expect(r === g && g === b).toBe(true); // grey: the preview, no colour
  });

  it('writes one feature per chip, null geometry where there is no footprint', () => {
    const geo = georefFromGeoTiff({
      ModelTiepoint: [0, 0, 0, 500000, 4000000, 0],
      ModelPixelScale: [30, 30, 0],
      geoKeys: { GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 32611 },
    });
    const ws = chipGrid(200, 100, 128).windows();
    const fc = chipFeatureCollection(
      ws.map((w, i) => ({
        window: w,
        placement:
          i === 0
            ? { footprint: footprint(geo, w), georefStatus: 'ok' }
            : { footprint: null, georefStatus: 'missing', reason: 'no tags' },
        properties: { score: i / 10 },
      })),
      { run: 'r1' },
    );
    expect(fc.type).toBe('FeatureCollection');
    expect(fc.features).toHaveLength(ws.length);
    const f0 = fc.features[0];
    expect(f0.geometry?.type).toBe('Polygon');
    expect(f0.geometry?.coordinates[0]).toHaveLength(5);
    expect(f0.properties).toMatchObject({
      chip: 0,
      x: 0,
      y: 0,
      width: 128,
      height: 100,
      clipped: true,
      score: 0,
      georef: 'ok',
    });
    expect(fc.features[1].geometry).toBeNull();
    expect(fc.features[1].properties.georef_reason).toBe('no tags');
    expect(fc.bbox?.[0]).toBeCloseTo(f0.bbox![0], 12);
    expect(JSON.parse(JSON.stringify(fc)).lookout).toEqual({ run: 'r1' });
  });
});

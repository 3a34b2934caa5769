/**
 * media/stac.ts: STAC Items checked and migrated; band roles from common names, band names or asset keys; band
 * assets of several resolutions read as one raster on the finest grid (real BigEarthNet Sentinel-2 patches, from
 * bench/raster-data.sh: skipped in a fresh clone); bad Items and mismatched assets as named BadInputErrors.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../core/errors';
import { loadConfig } from '../../config';
import { isStacCatalogName, isStacJsonName, validateObjectEvent } from '../../core/events';
import { pipelineFor, routeEvent } from '../../dispatch/dispatcher';
import { pixelToMap } from '../../media/georef';
import { fileRangeSource, openRaster, type Raster } from '../../media/raster';
import { openStacRaster, parseStacItem, placeOf, resolveAssetHref, type StacBand } from '../../media/stac';
import { acquisitionOf, rolesOf } from '../../methods/raster-change/method';
import { overlapShare } from '../../io/acquisitions';
import { haveBigEarthNet, patchItem, patchMeta } from '../fixtures/stac';

const item11 = (over: Record<string, unknown> = {}) => ({
  type: 'Feature',
  stac_version: '1.1.0',
  id: 'S2B_33UUP_20230607_0_L2A',
  collection: 'sentinel-2-l2a',
  bbox: [13.5, 48.1, 15.0, 49.0],
  geometry: null,
  properties: { datetime: '2023-06-07T10:05:59.024000Z', platform: 'sentinel-2b', 's2:mgrs_tile': '33UUP' },
  links: [],
  assets: {
    // Earth Search's keys: common names, with `bands` in 1.1 form.
    blue: {
      href: 'gs://b/x/B02.tif',
      type: 'image/tiff; application=geotiff; profile=cloud-optimized',
      roles: ['data'],
      bands: [{ name: 'B02', 'eo:common_name': 'blue' }],
    },
    nir: { href: 'B08.tif', type: 'image/tiff; application=geotiff; profile=cloud-optimized', roles: ['data'] },
    rededge1: { href: 'B05.tif', type: 'image/tiff; application=geotiff', roles: ['data'] },
    swir22: { href: 'https://storage.googleapis.com/b/x/B12.tif', roles: ['data'] },
    scl: { href: 'SCL.tif', type: 'image/tiff; application=geotiff', roles: ['data'] },
    visual: { href: 'TCI.tif', type: 'image/tiff; application=geotiff', roles: ['visual'] },
    thumbnail: { href: 'thumb.jpg', type: 'image/jpeg', roles: ['thumbnail'] },
  },
  ...over,
});

const err = (fn: () => unknown): BadInputError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BadInputError);
    return e as BadInputError;
  }
  throw new Error('did not throw');
};

describe('parseStacItem', () => {
  it('reads a STAC 1.1 Item: datetime, platform, tile key, band assets with their common names', () => {
    const i = parseStacItem(JSON.stringify(item11()), 'gs://b/x/item.json');
    expect([i.id, i.collection, i.datetime, i.platform, i.place]).toEqual([
      'S2B_33UUP_20230607_0_L2A',
      'sentinel-2-l2a',
      '2023-06-07T10:05:59.024Z',
      'sentinel-2b',
      'MGRS:33UUP',
    ]);
    expect(i.bbox).toEqual([13.5, 48.1, 15.0, 49.0]);
    // SCL (no spectral identity), the 3-band visual and the thumbnail are not bands.
    expect(i.bands.map((b) => [b.key, b.name, b.commonName])).toEqual([
      ['blue', 'B02', 'blue'],
      ['nir', 'nir', 'nir'],
      ['rededge1', 'rededge1', 'rededge071'],
      ['swir22', 'swir22', 'swir22'],
    ]);
  });

  it('migrates a STAC 1.0 Item with eo:bands (stac-migrate) and a 0.9 start_datetime-only Item', () => {
    const v10 = {
      ...item11(),
      stac_version: '1.0.0',
      assets: {
        B04: {
          href: 'B04.tif',
          type: 'image/tiff; application=geotiff',
          'eo:bands': [{ name: 'B04', common_name: 'red' }],
        },
        B8A: { href: 'B8A.tif', type: 'image/tiff' },
      },
    };
    expect(parseStacItem(JSON.stringify(v10), 'x').bands.map((b) => [b.key, b.commonName])).toEqual([
      ['B04', 'red'],
      ['B8A', 'nir08'],
    ]);
    const range = {
      ...item11(),
      properties: {
        datetime: null,
        start_datetime: '2020-01-01T00:00:00Z',
        end_datetime: '2020-01-02T00:00:00Z',
        'landsat:wrs_path': '44',
        'landsat:wrs_row': '34',
      },
    };
    const i = parseStacItem(JSON.stringify(range), 'x');
    expect([i.datetime, i.place, i.platform]).toEqual(['2020-01-01T00:00:00.000Z', 'WRS2:044/034', null]);
  });

  it('bad input: one BadInputError with a stable class and a message that says what is wrong', () => {
    expect(err(() => parseStacItem('{"type": "Feat', 'gs://b/a.json'))).toMatchObject({
      errorClass: 'NotStacItem',
      message: expect.stringMatching(/a\.json: not JSON/),
    });
    expect(err(() => parseStacItem('[1,2]', 'a')).errorClass).toBe('NotStacItem');
    expect(
      err(() => parseStacItem(JSON.stringify({ type: 'FeatureCollection', features: [{}, {}] }), 'gs://b/c.json'))
        .message,
    ).toMatch(/ItemCollection \(2 features\).*lookout backfill/);
    expect(
      err(() => parseStacItem(JSON.stringify({ type: 'Catalog', stac_version: '1.0.0', id: 'c', links: [] }), 'a'))
        .message,
    ).toMatch(/STAC Catalog/);
    expect(
      err(() => parseStacItem(JSON.stringify({ type: 'Feature', geometry: null, properties: {} }), 'a')).message,
    ).toMatch(/without "stac_version"/);
    expect(err(() => parseStacItem(JSON.stringify(item11({ assets: {} })), 'a')).errorClass).toBe('StacAssetMissing');
    expect(err(() => parseStacItem(JSON.stringify(item11({ properties: { datetime: null } })), 'a'))).toMatchObject({
      errorClass: 'BadStacItem',
      message: expect.stringMatching(/no time/),
    });
    expect(
      err(() => parseStacItem(JSON.stringify(item11({ properties: { datetime: 'yesterday' } })), 'a')).message,
    ).toMatch(/not an RFC 3339 time/);
    expect(err(() => parseStacItem(JSON.stringify(item11({ bbox: [1, 2, 3] })), 'a')).errorClass).toBe('BadStacItem');
    expect(
      err(() =>
        parseStacItem(JSON.stringify(item11({ assets: { scl: { href: 'SCL.tif', type: 'image/tiff' } } })), 'a'),
      ).message,
    ).toMatch(/no band asset.*scl/);
    expect(
      err(() => parseStacItem(JSON.stringify(item11({ assets: { red: { type: 'image/tiff' } } })), 'a')).message,
    ).toMatch(/band asset "red" has no href/);
    const cube = Object.fromEntries(
      Array.from({ length: 17 }, (_, i) => [
        `b${i}`,
        { href: `b${i}.tif`, type: 'image/tiff', bands: [{ name: `b${i}`, 'eo:common_name': 'red' }] },
      ]),
    );
    expect(err(() => parseStacItem(JSON.stringify(item11({ assets: cube })), 'a'))).toMatchObject({
      errorClass: 'BadBandCount',
      message: expect.stringMatching(/17 band assets .* over the limit of 16/),
    });
  });

  it('tile keys and hrefs', () => {
    expect(placeOf({ 'mgrs:utm_zone': 33, 'mgrs:latitude_band': 'U', 'mgrs:grid_square': 'UP' })).toBe('MGRS:33UUP');
    expect(placeOf({ 's2:mgrs_tile': 'T35VPK' })).toBe('MGRS:35VPK');
    expect(placeOf({ 'grid:code': 'CDEM-N45W075' })).toBe('CDEM-N45W075');
    expect(placeOf({})).toBeNull();
    const at = { bucket: 'inbox', name: 'archive/2023/item.json' };
    expect(resolveAssetHref('./B02.tif', at, 'blue')).toEqual({ bucket: 'inbox', name: 'archive/2023/B02.tif' });
    expect(resolveAssetHref('../bands/B02.tif', at, 'blue')).toEqual({
      bucket: 'inbox',
      name: 'archive/bands/B02.tif',
    });
    expect(resolveAssetHref('gs://other/p/B02.tif', at, 'blue')).toEqual({ bucket: 'other', name: 'p/B02.tif' });
    expect(resolveAssetHref('https://storage.googleapis.com/other/p%20q/B02.tif', at, 'blue')).toEqual({
      bucket: 'other',
      name: 'p q/B02.tif',
    });
    expect(
      err(() => resolveAssetHref('https://sentinel-cogs.s3.us-west-2.amazonaws.com/B02.tif', at, 'blue')),
    ).toMatchObject({ errorClass: 'StacAssetUnreadable', message: expect.stringMatching(/asset "blue"/) });
    expect(err(() => resolveAssetHref('../../../x.tif', at, 'blue')).message).toMatch(/climbs out/);
    expect([
      isStacJsonName('a/item.json'),
      isStacJsonName('a/x', 'application/geo+json'),
      isStacJsonName('a/x.tif'),
      isStacCatalogName('a/catalog.json'),
      isStacCatalogName('a/item.json'),
    ]).toEqual([true, true, false, true, false]);
  });

  it('routing: a .json object goes to the raster pipeline (unless it names another); catalog.json / collection.json are skipped', () => {
    const cfg = loadConfig({});
    const ev = (name: string, metadata: Record<string, string> = {}) => {
      const v = validateObjectEvent({
        bucket: 'inbox',
        name,
        generation: '1',
        size: '10',
        timeCreated: '2026-12-07T10:00:00Z',
        source: 'watcher',
        publishedAt: '2026-12-07T10:00:01Z',
        contentType: 'application/json',
        metadata,
      });
      if (!v.ok) throw new Error(v.reason);
      return v.value;
    };
    expect([pipelineFor(ev('s2/item.json'), cfg), routeEvent(ev('s2/item.json'), cfg)]).toEqual([
      'raster',
      { workflowType: 'analyzeRaster' },
    ]);
    expect(pipelineFor(ev('s2/item.json', { 'lookout-pipeline': 'objects' }), cfg)).toBe('objects');
    expect(routeEvent(ev('s2/catalog.json'), cfg)).toEqual({ skip: expect.stringMatching(/STAC catalog/) });
    expect(routeEvent(ev('s2/collection.json'), cfg)).toEqual({ skip: expect.stringMatching(/STAC catalog/) });
  });

  it('acquisition fields from an Item, or from metadata for a plain GeoTIFF; band roles from the role names', () => {
    expect(
      acquisitionOf({ 'lookout-datetime': '2021-05-01T10:00:00+02:00', 'lookout-place': 'field-7' }, null),
    ).toEqual({ datetime: '2021-05-01T08:00:00.000Z', platform: null, place: 'field-7', collection: null, item: null });
    expect(err(() => acquisitionOf({ 'lookout-datetime': 'soon' }, null)).errorClass).toBe('BadRasterOptions');
    expect(rolesOf(['coastal', 'blue', 'green', 'red', 'nir', 'nir08', 'swir1', 'swir2'])).toEqual({
      blue: 1,
      green: 2,
      red: 3,
      nir: 4,
      swir1: 6,
      swir2: 7,
    });
    expect(
      overlapShare({ west: 0, south: 0, east: 2, north: 2 }, { west: 1, south: 0, east: 2, north: 1 }),
    ).toBeCloseTo(1, 9);
    expect(
      overlapShare({ west: 0, south: 0, east: 2, north: 2 }, { west: 1, south: 1, east: 3, north: 3 }),
    ).toBeCloseTo(0.25, 9);
    expect(overlapShare({ west: 0, south: 0, east: 1, north: 1 }, { west: 2, south: 2, east: 3, north: 3 })).toBe(0);
  });
});

// Real per-band files from bench/raster-data.sh (BigEarthNet-S2-Example): skipped in a fresh clone.
describe.skipIf(!haveBigEarthNet())('openStacRaster on BigEarthNet Sentinel-2 patches', () => {
  const PATCH = 'S2A_MSIL2A_20170613T101031_87_48';
  const OTHER = 'S2A_MSIL2A_20170617T113321_4_55'; // UTM 29N: another CRS
  const meta = patchMeta(PATCH);
  const open = async (file: string): Promise<Raster> => {
    if (!fs.existsSync(file)) throw new BadInputError('ObjectNotFound', `${file} does not exist`);
    const src = await fileRangeSource(file);
    try {
      const r = await openRaster(src);
      return Object.assign(r, { close: async () => src.close() });
    } catch (e) {
      await src.close();
      throw e;
    }
  };
  const opener = (dir: (b: StacBand) => string) => (b: StacBand) =>
    open(path.join(dir(b), b.href.replace(/^\.\//, '')));

  it('12 bands at 10, 20 and 60 m read as one 120 x 120 raster on the 10 m grid; coarse bands repeat their pixels', async () => {
    const item = parseStacItem(JSON.stringify(patchItem(meta)), 'item.json');
    const r = await openStacRaster(
      item,
      opener(() => meta.dir),
      'item.json',
    );
    try {
      expect([r.width, r.height, r.bandCount, r.dtype, r.georef.epsg, r.stac.gridBand]).toEqual([
        120,
        120,
        12,
        'uint16',
        32633,
        'B02',
      ]);
      // The grid's corners are the patch's corners as BigEarthNet's own metadata gives them.
      expect(pixelToMap(r.georef.transform!, 0, 0)).toEqual([meta.ulx, meta.uly]);
      expect(pixelToMap(r.georef.transform!, 120, 120)).toEqual([meta.lrx, meta.lry]);
      expect(r.stac.roleNames).toEqual([
        'coastal',
        'blue',
        'green',
        'red',
        'rededge',
        'rededge',
        'rededge',
        'nir',
        'nir08',
        'nir09',
        'swir1',
        'swir2',
      ]);
      expect(rolesOf(r.stac.roleNames)).toEqual({ blue: 1, green: 2, red: 3, nir: 7, swir1: 10, swir2: 11 });
      expect(r.stac.sensorNames).toEqual([
        'B01',
        'B02',
        'B03',
        'B04',
        'B05',
        'B06',
        'B07',
        'B08',
        'B8A',
        'B09',
        'B11',
        'B12',
      ]);
      const win = { x: 10, y: 20, width: 48, height: 36 };
      const d = await r.readWindow(win);
      expect(d.bands).toHaveLength(12);
      // Each band against its own file read directly: 10 m identical, 20 m pixel (x/2, y/2), 60 m pixel (x/6, y/6).
      for (const [k, band, factor] of [
        [3, 'B04', 1],
        [10, 'B11', 2],
        [0, 'B01', 6],
      ] as const) {
        const own = await open(path.join(meta.dir, `${PATCH}_${band}.tif`));
        const full = await own.readWindow({ x: 0, y: 0, width: own.width, height: own.height }, [0]);
        expect(own.width).toBe(120 / factor);
        let same = 0;
        for (let y = 0; y < win.height; y++) {
          for (let x = 0; x < win.width; x++) {
            const sx = Math.floor((win.x + x) / factor);
            const sy = Math.floor((win.y + y) / factor);
            if (d.bands[k][y * win.width + x] === full.bands[0][sy * own.width + sx]) same++;
          }
        }
        expect(same, band).toBe(win.width * win.height);
        await own.close();
      }
      // Vegetation in June (arable land, BigEarthNet's labels): NIR well above red over the patch.
      const all = await r.readWindow({ x: 0, y: 0, width: 120, height: 120 }, [3, 7]);
      const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
      expect(mean(all.bands[1])).toBeGreaterThan(1.5 * mean(all.bands[0]));
      // The footprint in WGS 84 is the Item's bbox (computed from the same corners with proj4).
      const fp = r.footprint({ x: 0, y: 0, width: 120, height: 120 });
      expect(fp.minLon).toBeCloseTo(meta.bbox[0], 6);
      expect(fp.maxLat).toBeCloseTo(meta.bbox[3], 6);
      expect(r.stats().requests).toBeGreaterThan(12);
    } finally {
      await r.close();
    }
  });

  it('mismatched assets: another CRS, another footprint, a missing file, a wrong bbox, a file that is not a GeoTIFF', async () => {
    const other = patchMeta(OTHER);
    const mixed = (band: string, dir: string, patch: string) => (b: StacBand) =>
      open(b.key === band ? path.join(dir, `${patch}_${band}.tif`) : path.join(meta.dir, b.href.replace(/^\.\//, '')));
    const fail = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        expect(e).toBeInstanceOf(BadInputError);
        return e as BadInputError;
      }
      throw new Error('did not fail');
    };
    const item = parseStacItem(JSON.stringify(patchItem(meta)), 'gs://b/item.json');
    const crs = await fail(openStacRaster(item, mixed('B11', other.dir, OTHER), 'gs://b/item.json'));
    expect(crs).toMatchObject({
      errorClass: 'StacAssetMismatch',
      message: expect.stringMatching(/asset "B11" is in EPSG:32629, asset "B02" in EPSG:32633/),
    });
    // Two patches of tile 35VPK (UTM 35N, 15 km apart): one CRS, other footprints.
    const a = patchMeta('S2B_MSIL2A_20170924T93020_69_24');
    const b = patchMeta('S2B_MSIL2A_20180204T94161_57_38');
    const elsewhere = await fail(
      openStacRaster(
        parseStacItem(JSON.stringify(patchItem(a)), 'x'),
        (band) =>
          open(
            band.key === 'B8A'
              ? path.join(b.dir, `${b.patch}_B8A.tif`)
              : path.join(a.dir, band.href.replace(/^\.\//, '')),
          ),
        'x',
      ),
    );
    expect(elsewhere).toMatchObject({
      errorClass: 'StacAssetMismatch',
      message: expect.stringMatching(/asset "B8A" covers another footprint than asset "B02"/),
    });
    const missing = await fail(
      openStacRaster(
        parseStacItem(
          JSON.stringify(patchItem(meta, { href: (b, f) => (b === 'B09' ? './nope.tif' : `./${f}`) })),
          'x',
        ),
        opener(() => meta.dir),
        'x',
      ),
    );
    expect(missing).toMatchObject({
      errorClass: 'StacAssetMissing',
      message: expect.stringMatching(/asset "B09" \(\.\/nope\.tif\)/),
    });
    const notTiff = await fail(
      openStacRaster(
        parseStacItem(
          JSON.stringify(
            patchItem(meta, { href: (b, f) => (b === 'B03' ? `./${PATCH}_labels_metadata.json` : `./${f}`) }),
          ),
          'x',
        ),
        opener(() => meta.dir),
        'x',
      ),
    );
    expect(notTiff).toMatchObject({
      errorClass: 'StacAssetUnreadable',
      message: expect.stringMatching(/asset "B03".*neither a TIFF/),
    });
    const far = {
      ...meta,
      bbox: [meta.bbox[0] + 5, meta.bbox[1], meta.bbox[2] + 5, meta.bbox[3]] as [number, number, number, number],
    };
    const bbox = await fail(
      openStacRaster(
        parseStacItem(JSON.stringify(patchItem(far)), 'x'),
        opener(() => meta.dir),
        'x',
      ),
    );
    expect(bbox.message).toMatch(/bbox .* does not meet the footprint of its bands/);
  });
});

/**
 * STAC Items on the real stack (docs/stac.md): an Item uploaded to the inbox has its band assets (real
 * BigEarthNet Sentinel-2 band GeoTIFFs at 10/20/60 m, from bench/raster-data.sh) read by range requests from
 * fake-gcs-server and becomes chip rows with the acquisition's datetime, platform, tile and footprints; bad Items
 * become one failed row each, naming the asset; `lookout backfill` walks a static catalog and an ItemCollection;
 * pairing by place and time gives one change row set per consecutive pair of a CONSTRUCTED time series (one real
 * patch's band files under three Items with three datetimes), whatever the upload order.
 * Skipped without the BigEarthNet data (a fresh clone: run bash bench/raster-data.sh).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type { RasterRowFields } from '../../core/types';
import { consecutivePairsSql } from '../../io/acquisitions';
import { query } from '../../io/query';
import { haveBigEarthNet, patchItem, patchMeta, S2_BANDS, type PatchMeta } from '../fixtures/stac';
import { bq, cfg, ensureBucket, rowsWhere, SIDE_BUCKET, uniqueRun, upload, waitForRows, withTemporal } from './helpers';

interface Row {
  workflow_id: string;
  status: string;
  name: string;
  bucket: string;
  generation: string;
  pipeline: string;
  run_tag: string | null;
  error_class: string | null;
  error_message: string | null;
  details: string | null;
  raster: RasterRowFields | null;
}

const PATCH = 'S2A_MSIL2A_20170613T101031_87_48';
const OTHER = 'S2A_MSIL2A_20170617T113321_4_55'; // UTM 29N
const bin = path.resolve(__dirname, '..', '..', 'bin', 'lookout');

/** Uploads a patch's band files to `bucket` under `prefix`; their gs:// URIs by band. */
async function uploadBands(meta: PatchMeta, bucket: string, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [b] of S2_BANDS) {
    const file = `${meta.patch}_${b}.tif`;
    await upload(bucket, `${prefix}${file}`, fs.readFileSync(path.join(meta.dir, file)), 'image/tiff');
    out[b] = `gs://${bucket}/${prefix}${file}`;
  }
  return out;
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v, null, 1));

describe.skipIf(!haveBigEarthNet())('STAC Items on the real stack', { timeout: 600_000 }, () => {
  const meta = haveBigEarthNet() ? patchMeta(PATCH) : (null as unknown as PatchMeta);
  const bandsRun = uniqueRun('stac-bands');
  let hrefs: Record<string, string> = {};

  it('an Item in the inbox reads its band assets from the bucket: chip rows with datetime, platform, tile and footprints', async () => {
    await ensureBucket(SIDE_BUCKET);
    // Band files in another bucket (not watched: each is read as a band of the Item, never analysed alone).
    hrefs = await uploadBands(meta, SIDE_BUCKET, `${bandsRun}/`);
    const run = uniqueRun('stac-item');
    const item = patchItem(meta, { collection: run, href: (b) => hrefs[b] });
    const name = `${run}/${PATCH}.json`;
    await upload(cfg.gcs.bucket, name, json(item), 'application/geo+json', {
      'lookout-run': run,
      'lookout-chip-size': '64',
    });
    // 120 x 120 at 64 px chips: 2 x 2 chips and the summary.
    const all = await waitForRows<Row>('run_tag = @run', { run }, 5, 300_000);
    expect(all).toHaveLength(5);
    for (const r of all) {
      expect([r.status, r.pipeline, r.error_class]).toEqual(['ok', 'raster', null]);
      expect(r.raster).toMatchObject({
        acquired_at: '2017-06-13T10:10:31.000Z',
        platform: 'sentinel-2a',
        place: 'MGRS:33UUP',
        collection: run,
        stac_item: PATCH,
        crs: 'EPSG:32633',
        georef: 'geotiff',
        raster_width: 120,
        raster_height: 120,
      });
      expect(r.raster!.footprint_wkt).toMatch(/^POLYGON\(\(/);
    }
    const summary = all.find((r) => r.raster!.kind === 'summary')!;
    expect(summary.raster).toMatchObject({ bands: 12, chips: 4, chips_failed: 0, before_name: null });
    // The summary's footprint is the patch's: BigEarthNet's UTM corners projected by proj4 in the fixture.
    expect(summary.raster!.west!).toBeCloseTo(meta.bbox[0], 5);
    expect(summary.raster!.north!).toBeCloseTo(meta.bbox[3], 5);
    const notes = (JSON.parse(summary.details!) as { notes: string }).notes;
    expect(notes).toMatch(
      /STAC Item S2A_MSIL2A_20170613T101031_87_48: B01=coastal, B02=blue.*B11=swir16, B12=swir22 on the grid of B02/,
    );
    // Indices from the role bands (B04 red, B08 nir, B11/B12 SWIR): arable land in June is green.
    for (const c of all.filter((r) => r.raster!.kind === 'chip')) {
      const d = JSON.parse(c.details!) as Record<string, number>;
      expect(d.ndvi).toBeGreaterThan(0.3);
      expect(Number.isFinite(d.nbr)).toBe(true);
    }
  });

  it('bad Items: one failed row each, saying which asset and why; the workflows end', async () => {
    const run = uniqueRun('stac-bad');
    const other = patchMeta(OTHER);
    const otherHrefs = await uploadBands(other, SIDE_BUCKET, `${run}/other/`);
    const m = { 'lookout-run': run };
    const cases: Array<[string, Buffer, string, RegExp]> = [
      ['garbage.json', Buffer.from('{"type": "Feature", "assets": '), 'NotStacItem', /not JSON/],
      [
        'search.json',
        json({ type: 'FeatureCollection', features: [patchItem(meta)] }),
        'NotStacItem',
        /ItemCollection \(1 features\).*lookout backfill/,
      ],
      [
        'geojson.json',
        json({ type: 'Feature', geometry: null, properties: {} }),
        'NotStacItem',
        /without "stac_version"/,
      ],
      [
        'missing.json',
        json(
          patchItem(meta, {
            collection: run,
            href: (b) => (b === 'B09' ? `gs://${SIDE_BUCKET}/${run}/gone_B09.tif` : hrefs[b]),
          }),
        ),
        'StacAssetMissing',
        /asset "B09" .*gone_B09\.tif does not exist/,
      ],
      [
        'crs.json',
        json(patchItem(meta, { collection: run, href: (b) => (b === 'B11' ? otherHrefs.B11 : hrefs[b]) })),
        'StacAssetMismatch',
        /asset "B11" is in EPSG:32629, asset "B02" in EPSG:32633/,
      ],
      [
        'notiff.json',
        json(
          patchItem(meta, {
            collection: run,
            href: (b) => (b === 'B03' ? `gs://${cfg.gcs.bucket}/${run}/geojson.json` : hrefs[b]),
          }),
        ),
        'StacAssetUnreadable',
        /asset "B03" .*neither a TIFF/,
      ],
      [
        'elsewhere.json',
        json(
          patchItem(
            { ...meta, bbox: [meta.bbox[0] + 3, meta.bbox[1], meta.bbox[2] + 3, meta.bbox[3]] },
            { collection: run, href: (b) => hrefs[b] },
          ),
        ),
        'StacAssetMismatch',
        /bbox .* does not meet the footprint of its bands/,
      ],
      [
        'http.json',
        json(
          patchItem(meta, { collection: run, href: (b) => (b === 'B04' ? 'https://example.com/B04.tif' : hrefs[b]) }),
        ),
        'StacAssetUnreadable',
        /asset "B04": href https:\/\/example\.com\/B04\.tif is not in a bucket/,
      ],
    ];
    for (const [n, body] of cases) await upload(cfg.gcs.bucket, `${run}/${n}`, body, 'application/json', m);
    const rows = await waitForRows<Row>('run_tag = @run', { run }, cases.length, 300_000);
    expect(rows).toHaveLength(cases.length);
    for (const [n, , cls, msg] of cases) {
      const r = rows.filter((x) => x.name === `${run}/${n}`);
      expect(r, n).toHaveLength(1);
      expect([r[0].status, r[0].pipeline, r[0].error_class], n).toEqual(['failed', 'raster', cls]);
      expect(r[0].error_message, n).toMatch(msg);
    }
    // Nothing stuck or retried without end: each Item's workflow has completed (bad input fails once, not retried).
    const states = await withTemporal((c) =>
      Promise.all(
        rows.map((r) =>
          c.workflow
            .getHandle(r.workflow_id)
            .describe()
            .then((d) => d.status.name),
        ),
      ),
    );
    expect(new Set(states)).toEqual(new Set(['COMPLETED']));
  });

  it('lookout backfill walks a static catalog (rel child / item, relative hrefs) and an ItemCollection', async () => {
    const run = uniqueRun('stac-catalog');
    const root = `${run}/archive`;
    // catalog.json -> child s2/collection.json -> item s2/<patch>/<patch>.json with its bands beside it (relative hrefs).
    await uploadBands(meta, SIDE_BUCKET, `${root}/s2/${PATCH}/`);
    await upload(
      SIDE_BUCKET,
      `${root}/s2/${PATCH}/${PATCH}.json`,
      json(patchItem(meta, { collection: run })),
      'application/geo+json',
    );
    await upload(
      SIDE_BUCKET,
      `${root}/s2/collection.json`,
      json({
        type: 'Collection',
        stac_version: '1.0.0',
        id: run,
        description: 'test',
        license: 'proprietary',
        extent: {},
        links: [
          { rel: 'root', href: '../catalog.json' },
          { rel: 'item', href: `./${PATCH}/${PATCH}.json` },
        ],
      }),
      'application/json',
    );
    await upload(
      SIDE_BUCKET,
      `${root}/catalog.json`,
      json({
        type: 'Catalog',
        stac_version: '1.0.0',
        id: 'root',
        description: 'test',
        links: [
          { rel: 'self', href: './catalog.json' },
          { rel: 'child', href: './s2/collection.json' },
          { rel: 'child', href: './missing/catalog.json' },
        ],
      }),
      'application/json',
    );
    const out = execFileSync(
      'node',
      [bin, 'backfill', `gs://${SIDE_BUCKET}/${root}/catalog.json`, '--run', run, '--json'],
      { encoding: 'utf8', env: process.env },
    );
    const r = JSON.parse(out.trim().split('\n').pop()!) as {
      catalogs: number;
      items: number;
      published: number;
      duplicates: number;
      invalid: number;
      problems: string[];
    };
    expect(r).toMatchObject({ catalogs: 2, items: 1, published: 1, duplicates: 0, invalid: 1 });
    expect(r.problems[0]).toMatch(/missing\/catalog\.json/);
    // An ItemCollection (a search result): its Item is written to the results bucket with absolute hrefs, then analysed.
    const fc = {
      type: 'FeatureCollection',
      features: [
        patchItem(meta, { id: `${PATCH}-search`, collection: `${run}-search`, href: (_b, f) => `./s2/${PATCH}/${f}` }),
      ],
    };
    await upload(SIDE_BUCKET, `${root}/search.json`, json(fc), 'application/geo+json');
    const out2 = execFileSync(
      'node',
      [bin, 'backfill', `gs://${SIDE_BUCKET}/${root}/search.json`, '--run', run, '--json'],
      { encoding: 'utf8', env: process.env },
    );
    expect(JSON.parse(out2.trim().split('\n').pop()!)).toMatchObject({
      catalogs: 1,
      items: 1,
      published: 1,
      invalid: 0,
    });
    // 120 x 120 at the default 128 px chip: one chip and the summary per Item.
    const rows = await waitForRows<Row>('run_tag = @run', { run }, 4, 300_000);
    expect(rows).toHaveLength(4);
    expect(
      rows.every(
        (x) =>
          x.status === 'ok' && x.raster!.acquired_at === '2017-06-13T10:10:31.000Z' && x.raster!.footprint_wkt !== null,
      ),
    ).toBe(true);
    expect(new Set(rows.map((x) => `${x.bucket}/${x.name}`))).toEqual(
      new Set([
        `${SIDE_BUCKET}/${root}/s2/${PATCH}/${PATCH}.json`,
        `${cfg.gcs.resultsBucket}/stac-items/${SIDE_BUCKET}/${root}/search/${PATCH}-search.json`,
      ]),
    );
    // A second backfill publishes the same object versions: the stream drops them, nothing is analysed twice.
    const again = JSON.parse(
      execFileSync('node', [bin, 'backfill', `gs://${SIDE_BUCKET}/${root}/search.json`, '--run', run, '--json'], {
        encoding: 'utf8',
        env: process.env,
      })
        .trim()
        .split('\n')
        .pop()!,
    ) as { published: number; duplicates: number };
    expect([again.published, again.duplicates]).toEqual([0, 1]);
  });

  /**
   * A CONSTRUCTED time series: the patch's real band files under Items dated t1 < t2 < t3 (same place, one
   * collection per series). Consecutive pairs are (t1, t2) and (t2, t3) whatever the order of arrival.
   */
  const series = (run: string) =>
    ['2017-06-03T10:10:31Z', '2017-06-13T10:10:31Z', '2017-06-23T10:10:31Z'].map((datetime, i) => ({
      name: `${run}/t${i + 1}.json`,
      body: json(patchItem(meta, { id: `${run}-t${i + 1}`, collection: run, datetime, href: (b) => hrefs[b] })),
    }));
  type Summary = { name: string; before: string | null; workflow: string; change: number | null; ndvi: number | null };
  const summaries = async (run: string): Promise<Summary[]> =>
    (await rowsWhere<Row>("run_tag = @run AND raster.kind = 'summary'", { run })).map((r) => ({
      name: r.name,
      before: r.raster!.before_name,
      workflow: r.workflow_id,
      change: r.raster!.change_score,
      ndvi: r.raster!.ndvi_delta,
    }));
  /** Waits until the series' consecutive pairs both have their change rows. */
  const waitPairs = async (run: string, timeoutMs = 400_000): Promise<Summary[]> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await summaries(run);
      const has = (after: string, before: string) =>
        s.some((x) => x.name === `${run}/${after}.json` && x.before === `${run}/${before}.json`);
      if (has('t2', 't1') && has('t3', 't2')) return s;
      if (Date.now() > deadline)
        throw new Error(`consecutive pairs missing after ${timeoutMs} ms: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  /** Every pair's row set exactly once; no acquisition paired with a later one. */
  const checkPairs = (run: string, s: Summary[]) => {
    const pairs = s.filter((x) => x.before).map((x) => `${x.name}<${x.before}`);
    expect(new Set(pairs).size, JSON.stringify(pairs)).toBe(pairs.length);
    for (const x of s.filter((y) => y.before))
      expect(x.before! < x.name, `${x.name} paired with ${x.before}`).toBe(true);
    const t = (k: string) => s.filter((x) => x.name === `${run}/${k}.json`);
    // Same pixels at every date: the change is (numerically) none.
    for (const x of s.filter((y) => y.before)) {
      expect(x.change).not.toBeNull();
      expect(Math.abs(x.ndvi!)).toBeLessThan(1e-6);
    }
    expect(t('t1').every((x) => x.before === null)).toBe(true);
  };
  /**
   * Waits until everything the series could start has ended (the positive signal before "exactly once" is judged):
   * the three acquisitions' workflows (each starts its re-pairs before it completes), then every pair workflow that exists.
   */
  const settle = async (gens: Record<string, string>) => {
    const id = (n: string) => `${cfg.gcs.bucket}/${n}#${gens[n]}`;
    const names = Object.keys(gens).sort();
    await withTemporal(async (c) => {
      for (const n of names) await c.workflow.getHandle(`raster:${id(n)}`).result();
      for (const [i, before] of names.entries()) {
        for (const after of names.slice(i + 1)) {
          try {
            await c.workflow.getHandle(`raster:${id(after)}<${id(before)}`).result();
          } catch (e) {
            if (!(e instanceof WorkflowNotFoundError)) throw e;
          }
        }
      }
    });
  };
  /** docs/stac.md's query for the current consecutive pairs: exactly (t1, t2) and (t2, t3). */
  const checkConsecutive = async (run: string) => {
    const rows = await query<{ name: string; before_name: string }>(bq, consecutivePairsSql(cfg, 'run_tag = @run'), {
      run,
    });
    expect(rows.map((r) => [r.name, r.before_name])).toEqual([
      [`${run}/t2.json`, `${run}/t1.json`],
      [`${run}/t3.json`, `${run}/t2.json`],
    ]);
  };

  it('pairing by place and time: uploaded t3, t1, t2 one after another, the newer ones re-pair with what arrived late', async () => {
    const run = uniqueRun('stac-series');
    const [t1, t2, t3] = series(run);
    const m = { 'lookout-run': run };
    const summaryOf = (n: string, count: number) =>
      waitForRows<Row>("run_tag = @run AND raster.kind = 'summary' AND name = @name", { run, name: n }, count, 300_000);
    const gens: Record<string, string> = {};
    gens[t3.name] = await upload(cfg.gcs.bucket, t3.name, t3.body, 'application/geo+json', m);
    await summaryOf(t3.name, 1);
    gens[t1.name] = await upload(cfg.gcs.bucket, t1.name, t1.body, 'application/geo+json', m);
    // t1 arrived late: t3's change against t1 runs as a re-pair (t3 now has two summary rows).
    await summaryOf(t3.name, 2);
    gens[t2.name] = await upload(cfg.gcs.bucket, t2.name, t2.body, 'application/geo+json', m);
    await waitPairs(run);
    await settle(gens);
    const s = await summaries(run);
    checkPairs(run, s);
    await checkConsecutive(run);
    const of = (n: string) =>
      s
        .filter((x) => x.name === `${run}/${n}.json`)
        .map((x) => x.before)
        .sort();
    // t3: alone at first, then against t1 (t1 arrived), then against t2 (t2 arrived): the last is its consecutive pair.
    expect(of('t3')).toEqual([`${run}/t1.json`, `${run}/t2.json`, null].sort());
    // t2 found t1 in the archive's rows when it was planned: no re-pair needed.
    expect(of('t2')).toEqual([`${run}/t1.json`]);
    expect(of('t1')).toEqual([null]);
    // The re-pairs ran under their pair's workflow ID.
    const repair = s.find((x) => x.name === `${run}/t3.json` && x.before === `${run}/t2.json`)!;
    expect(repair.workflow).toMatch(
      new RegExp(`^raster:${cfg.gcs.bucket}/${run}/t3\\.json#\\d+<${cfg.gcs.bucket}/${run}/t2\\.json#\\d+$`),
    );
  });

  it('pairing by place and time: all three uploaded at once in reverse order still give each consecutive pair exactly once', async () => {
    const run = uniqueRun('stac-burst');
    const [t1, t2, t3] = series(run);
    const m = { 'lookout-run': run };
    const gens: Record<string, string> = {};
    await Promise.all(
      [t3, t2, t1].map(
        async (x) => (gens[x.name] = await upload(cfg.gcs.bucket, x.name, x.body, 'application/geo+json', m)),
      ),
    );
    await waitPairs(run);
    await settle(gens);
    const s = await summaries(run);
    checkPairs(run, s);
    await checkConsecutive(run);
    // Whatever raced, the consecutive pairs are there exactly once each.
    expect(s.filter((x) => x.name === `${run}/t2.json` && x.before === `${run}/t1.json`)).toHaveLength(1);
    expect(s.filter((x) => x.name === `${run}/t3.json` && x.before === `${run}/t2.json`)).toHaveLength(1);
  });
});

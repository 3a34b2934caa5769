/**
 * The raster-change method as a pipeline stage set (pipeline `raster`, workflow analyzeRaster): plans a
 * raster from its header (read by range requests), analyses it block by block (one activity per block of
 * chips: cloud fraction, spectral indices, deep features, change against a co-registered before
 * acquisition, novelty against the archive's bank of chips), and finishes it (heatmap PNG over a preview
 * of the raster, GeoJSON of the chips, the archive bank updated with this raster's chips).
 *
 * Memory per activity is one block of chips (blockChips² chips of chipSize², all bands) plus the range
 * reader's 4 MiB cache: whatever the raster's size. What the finishing step needs from each block (chip
 * scores, a few feature vectors for the bank, the block's preview cells) is stored in the results bucket
 * under the plan's prefix, not in workflow history.
 */
import path from 'node:path';
import { BadInputError, SetupError } from '../../core/errors';
import { PIPELINES } from '../../core/pipelines';
import { isStacJsonName } from '../../core/events';
import type {
  AnalysisSummary,
  ObjectRef,
  RasterAcquisition,
  RasterClassifierPlan,
  RasterPlan,
  RasterRowFields,
  StageReport,
} from '../../core/types';
import type { ObjectStore } from '../../io/objectstore';
import { worldFileCandidates } from '../../media/georef';
import { openRaster, type ChipWindow, type Raster, type WindowData } from '../../media/raster';
import { isStacRaster, openStacRaster, parseStacItem, resolveAssetHref, type StacRaster } from '../../media/stac';
import type { OnnxChipClassifier } from '../../runtime/classifier';
import type { OnnxEmbedder } from '../../runtime/embedder';
import { KnnBank } from '../../runtime/knn';
import { machineInfo } from '../../runtime/machine';
import type { MethodContext, MethodDefinition, MethodRuntime } from '../method';
import { assertCoRegistered } from './index';
import { acquisitionRepairs } from './pairing';
import { chipToChannels01, classifierChannels, classifierSummary, packFloat16, unpackFloat16 } from './classifier';
import { chipCloudFraction, OnnxCloudModel, s2cloudlessBandIndices, type CloudModel } from './cloud';
import {
  chipToRgb01,
  cosineDistance,
  onnxFeatureExtractor,
  percentileStretch,
  type FeatureExtractor,
  type Stretch,
} from './deep';
import { chipFeatureCollection } from './geojson';
import { PreviewBuilder, renderHeatmap, type PreviewRegion } from './heatmap';
import { chipIndices, rolesFromNames, spectralChange, type BandRoles } from './spectral';
import { timeAsync, timeSync } from '../../runtime/steps';

/** Sentinel-2 L1C band order of a 13-band stack (SAFE / GDAL order), and L2A's 12 (no B10). */
export const S2_L1C_13 = ['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B10', 'B11', 'B12'];
export const S2_L2A_12 = S2_L1C_13.filter((b) => b !== 'B10');
/** Landsat 7 ETM+ 6-band stack (bands 1-5 and 7, as r-cran-stars' L7_ETMs.tif). */
export const LANDSAT_6 = ['B1', 'B2', 'B3', 'B4', 'B5', 'B7'];

/** Preview side (pixels) of the heatmap's background: the whole raster downsampled. */
const PREVIEW_SIDE = 512;
/** Feature vectors per block kept for the archive bank (a sample: the bank is a coreset anyway). */
const BANK_SAMPLES_PER_BLOCK = 8;
/** Most chips in an archive's novelty bank (farthest-point coreset beyond). */
const BANK_MAX = 2048;
/** Largest STAC Item JSON read (Items are a few KiB; a 4 MiB "Item" is something else). */
const STAC_ITEM_MAX_BYTES = 4 * 2 ** 20;
/** Neighbours averaged for novelty. */
const NOVELTY_K = 3;

/** Band names of a raster: object metadata `lookout-bands` (comma-separated), else a guess from the count. */
export function bandNames(
  count: number,
  meta: Record<string, string> | undefined,
): { names: string[]; source: string } {
  const given = meta?.['lookout-bands'];
  if (given) {
    const names = given.split(',').map((s) => s.trim());
    if (names.length !== count)
      throw new BadInputError(
        'BadBandNames',
        `metadata lookout-bands names ${names.length} bands, the raster has ${count}`,
      );
    return { names, source: 'metadata lookout-bands' };
  }
  if (count === 3) return { names: ['red', 'green', 'blue'], source: 'assumed RGB (3 bands)' };
  if (count === 4) return { names: ['red', 'green', 'blue', 'nir'], source: 'assumed R,G,B,NIR (4 bands, NAIP order)' };
  if (count === 6) return { names: LANDSAT_6, source: 'assumed Landsat TM/ETM+ bands 1-5,7 (6 bands)' };
  if (count === 13) return { names: S2_L1C_13, source: 'assumed Sentinel-2 L1C B01..B12 (13 bands)' };
  if (count === 12) return { names: S2_L2A_12, source: 'assumed Sentinel-2 L2A (12 bands, no B10)' };
  return { names: Array.from({ length: count }, (_, i) => `band${i + 1}`), source: `${count} unnamed band(s)` };
}

/** Spectral roles of named bands, whichever naming family they use. */
export function rolesOf(names: readonly string[]): BandRoles {
  const upper = names.map((n) => n.trim().toUpperCase());
  if (upper.some((n) => /^B(0\d|1[0-2]|8A)$/.test(n))) return rolesFromNames(names, 'sentinel2');
  if (upper.some((n) => /^B\d$/.test(n))) return rolesFromNames(names, 'landsat-tm');
  return rolesFromNames(names, 'names');
}

/** The before acquisition: metadata `lookout-before` (object name or gs://bucket/name), else `*_after.*` -> `*_before.*`. */
export function beforeCandidate(
  o: Pick<ObjectRef, 'bucket' | 'name' | 'metadata'>,
): { bucket: string; name: string; explicit: boolean } | null {
  const m = o.metadata?.['lookout-before'];
  if (m) {
    const gs = /^gs:\/\/([^/]+)\/(.+)$/.exec(m);
    return gs ? { bucket: gs[1], name: gs[2], explicit: true } : { bucket: o.bucket, name: m, explicit: true };
  }
  const conv = /^(.*[._-])(after)(\.[^./]+)$/i.exec(o.name);
  if (conv) {
    const word = conv[2] === 'AFTER' ? 'BEFORE' : conv[2] === 'After' ? 'Before' : 'before';
    return { bucket: o.bucket, name: `${conv[1]}${word}${conv[3]}`, explicit: false };
  }
  return null;
}

/**
 * The acquisition a raster records: a STAC Item's datetime, platform, tile key, collection and id; for a plain
 * GeoTIFF, object metadata lookout-datetime / lookout-platform / lookout-place / lookout-collection.
 */
export function acquisitionOf(meta: Record<string, string>, stac: StacRaster['stac'] | null): RasterAcquisition {
  let datetime = stac?.datetime ?? null;
  const given = meta['lookout-datetime']?.trim();
  if (!stac && given) {
    const t = Date.parse(given);
    if (!Number.isFinite(t))
      throw new BadInputError(
        'BadRasterOptions',
        `metadata lookout-datetime ${JSON.stringify(given.slice(0, 40))} is not an ISO 8601 time`,
      );
    datetime = new Date(t).toISOString();
  }
  const m = (k: string) => meta[k]?.trim() || null;
  return {
    datetime,
    platform: stac?.platform ?? m('lookout-platform'),
    place: stac?.place ?? m('lookout-place'),
    collection: stac?.collection ?? m('lookout-collection'),
    item: stac?.id ?? null,
  };
}

function positiveInt(raw: string | undefined, min: number, max: number, what: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!(Number.isInteger(n) && n >= min && n <= max))
    throw new BadInputError(
      'BadRasterOptions',
      `metadata ${what} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw.slice(0, 40))}`,
    );
  return n;
}

/** The row's georef label and note from the raster's georeference. */
export function georefLabel(r: Raster): { georef: RasterRowFields['georef']; note: string | null; crs: string | null } {
  const g = r.georef;
  const crs = g.epsg ? `EPSG:${g.epsg}` : (g.crsName ?? null);
  if (g.status === 'ok')
    return { georef: g.source === 'world-file' ? 'world-file' : 'geotiff', note: g.note ?? null, crs };
  if (g.status === 'missing')
    return { georef: 'none', note: g.reason ?? 'no georeference: rows keep pixel windows only', crs };
  return {
    georef: 'broken',
    note: `${g.status}: ${g.reason ?? 'unusable georeference'}; rows keep pixel windows only`,
    crs,
  };
}

const round = (v: number | null | undefined, d = 6): number | null =>
  v === null || v === undefined || !Number.isFinite(v) ? null : Math.round(v * 10 ** d) / 10 ** d;

/** Windows of one block of the plan's chip grid (row-major blocks of blockChips x blockChips chips). */
export function blockWindows(
  plan: Pick<RasterPlan, 'width' | 'height' | 'chipSize' | 'overlap' | 'cols' | 'rows' | 'blockChips' | 'blocksAcross'>,
  block: number,
): ChipWindow[] {
  const k = plan.blockChips;
  const c0 = (block % plan.blocksAcross) * k;
  const r0 = Math.floor(block / plan.blocksAcross) * k;
  const stride = plan.chipSize - plan.overlap;
  const out: ChipWindow[] = [];
  for (let r = r0; r < Math.min(plan.rows, r0 + k); r++) {
    for (let c = c0; c < Math.min(plan.cols, c0 + k); c++) {
      const x = c * stride;
      const y = r * stride;
      const w = Math.min(plan.chipSize, plan.width - x);
      const h = Math.min(plan.chipSize, plan.height - y);
      out.push({
        x,
        y,
        width: w,
        height: h,
        col: c,
        row: r,
        index: r * plan.cols + c,
        clipped: w < plan.chipSize || h < plan.chipSize,
      });
    }
  }
  return out;
}

/** The suffix that gives each chip its own workflow_id (the _latest view keeps one row per chip). */
export function chipWorkflowId(rasterWorkflowId: string, col: number, row: number): string {
  return `${rasterWorkflowId}@c${col}r${row}`;
}

/** What a block leaves in the results bucket for finishing. */
interface BlockRecord {
  block: number;
  chips: Array<{
    col: number;
    row: number;
    x: number;
    y: number;
    w: number;
    h: number;
    score: number | null;
    cloud: number | null;
    change: number | null;
    novelty: number | null;
    ndvi: number | null;
    nbr: number | null;
    ndwi: number | null;
    cls?: number | null;
    failed?: string;
  }>;
  preview: PreviewRegion | null;
  /** Float32 little-endian, base64: a sample of this block's after-features for the archive bank. */
  features: string | null;
  dim: number;
}

/** A block whose head runs on another pool: its chip rows and the head's inputs wait here for classifyRasterBlock. */
interface PendingHead {
  block: number;
  /** Chip rows as the backbone stage made them; `input` says which rows get a classifier score. */
  rows: Array<Omit<AnalysisSummary, 'input' | 'runId' | 'workflowStartedAt'>>;
  /** Per row: index into the inputs, or -1 (failed chip, or no input for this chip). */
  input: number[];
  /** Float16 little-endian, base64: the head's inputs (features or chip tensors), `dim` values each. */
  inputs: string;
  dim: number;
  /** When the backbone stage finished (the head's queue wait starts here). */
  doneAt: number;
}

function previewBands(plan: RasterPlan): number[] {
  return plan.rgb ? [...plan.rgb] : [0];
}

export function rasterRecord(
  plan: RasterPlan,
  w: ChipWindow | null,
  raster: Raster | null,
  scores: Partial<
    Pick<
      RasterRowFields,
      | 'cloud_fraction'
      | 'change_score'
      | 'novelty_score'
      | 'ndvi_delta'
      | 'nbr_delta'
      | 'ndwi_delta'
      | 'classifier_score'
      | 'classifier_label'
    >
  >,
): RasterRowFields {
  let fp: RasterPlan['footprint'] = null;
  let note = plan.georefNote;
  if (w && raster) {
    const p = raster.placement(w);
    if (p.footprint)
      fp = {
        wkt: p.footprint.wkt,
        west: p.footprint.minLon,
        south: p.footprint.minLat,
        east: p.footprint.maxLon,
        north: p.footprint.maxLat,
      };
    else note = p.reason ?? note;
  } else if (!w) fp = plan.footprint;
  return {
    kind: w ? 'chip' : 'summary',
    chip_col: w ? w.col : null,
    chip_row: w ? w.row : null,
    x: w ? w.x : 0,
    y: w ? w.y : 0,
    width: w ? w.width : plan.width,
    height: w ? w.height : plan.height,
    edge: w ? w.clipped : false,
    raster_width: plan.width,
    raster_height: plan.height,
    crs: plan.crs,
    georef: plan.georef,
    georef_note: note,
    footprint_wkt: fp?.wkt ?? null,
    west: round(fp?.west, 9),
    south: round(fp?.south, 9),
    east: round(fp?.east, 9),
    north: round(fp?.north, 9),
    cloud_fraction: round(scores.cloud_fraction),
    change_score: round(scores.change_score),
    novelty_score: round(scores.novelty_score),
    ndvi_delta: round(scores.ndvi_delta),
    nbr_delta: round(scores.nbr_delta),
    ndwi_delta: round(scores.ndwi_delta),
    before_name: plan.before?.name ?? null,
    chip_size: w ? null : plan.chipSize,
    chip_overlap: w ? null : plan.overlap,
    bands: w ? null : plan.bands,
    chips: null,
    chips_failed: null,
    heatmap_uri: null,
    geojson_uri: null,
    classifier_model: plan.classifier && w ? plan.classifier.model : null,
    classifier_version: plan.classifier && w ? plan.classifier.version : null,
    classifier_score: round(scores.classifier_score),
    classifier_label: scores.classifier_label ?? null,
    classifier_positives: null,
    backbone: plan.rgb ? (plan.backbone?.name ?? null) : null,
    acquired_at: plan.acquisition?.datetime ?? null,
    platform: plan.acquisition?.platform ?? null,
    place: plan.acquisition?.place ?? null,
    collection: plan.acquisition?.collection ?? null,
    stac_item: plan.acquisition?.item ?? null,
  };
}

function safeKey(s: string): string {
  return s.replace(/[^A-Za-z0-9._/-]+/g, '_');
}

/** Opened rasters per worker: the header is read once per raster, not once per block (a few at a time). */
class RasterCache {
  private readonly open = new Map<string, Promise<Raster>>();
  constructor(private readonly max = 4) {}
  get(key: string, make: () => Promise<Raster>): Promise<Raster> {
    let p = this.open.get(key);
    if (p) {
      this.open.delete(key);
      this.open.set(key, p);
      return p;
    }
    p = make();
    p.catch(() => this.open.delete(key));
    this.open.set(key, p);
    while (this.open.size > this.max) {
      const [k, old] = this.open.entries().next().value as [string, Promise<Raster>];
      this.open.delete(k);
      void old.then((r) => r.close()).catch(() => {});
    }
    return p;
  }
}

export async function loadRasterRuntime(
  ctx: MethodContext,
  models: { backbone: string; cloud: string },
): Promise<MethodRuntime> {
  const store: ObjectStore = ctx.store;
  if (!store.rangeSource || !store.stat)
    throw new SetupError('NoRangeReads', 'the raster method needs an object store with range reads');
  const rangeSource = store.rangeSource.bind(store);
  const stat = store.stat.bind(store);
  const embedder = await ctx.models.embedder(models.backbone);
  const extractor: FeatureExtractor = onnxFeatureExtractor(embedder);
  let cloud: CloudModel | null = null;
  let cloudModelName = models.cloud;
  if (ctx.models.modelPath) {
    cloud = await OnnxCloudModel.load(ctx.models.modelPath(models.cloud), { pool: 'cpu', name: models.cloud });
  } else {
    cloudModelName = '';
  }
  const cache = new RasterCache();
  // Users' chip classifiers (task "chip-classifier" in the model repository), per pipeline, loaded once.
  const classifierSets = new Map<string, Promise<OnnxChipClassifier[]>>();
  const classifiersOf = (pipeline: string): Promise<OnnxChipClassifier[]> => {
    let c = classifierSets.get(pipeline);
    if (!c) {
      c = ctx.models.chipClassifiers ? ctx.models.chipClassifiers(pipeline) : Promise.resolve([]);
      classifierSets.set(pipeline, c);
    }
    return c;
  };
  async function classifierOf(pipeline: string, cls: RasterClassifierPlan): Promise<OnnxChipClassifier> {
    const c = (await classifiersOf(pipeline)).find((x) => x.name === cls.model);
    if (!c)
      throw new SetupError(
        'ClassifierNotLoaded',
        `chip classifier ${cls.model} is not in this worker's model repository for pipeline ${pipeline}`,
      );
    if (c.version !== cls.version)
      throw new SetupError(
        'ClassifierVersion',
        `chip classifier ${cls.model}: the raster was planned with version ${cls.version}, this worker has ${c.version}`,
      );
    return c;
  }
  // Loaded with the method, so that a broken classifier manifest stops the worker at start, not a raster later.
  const rasterPipelines = [...PIPELINES.values()].filter((p) => p.method === 'raster-change').map((p) => p.name);
  const loadedClassifiers = [
    ...new Map((await Promise.all(rasterPipelines.map(classifiersOf))).flat().map((c) => [c.name, c])).values(),
  ];
  // Other backbones: an engine variant chosen per raster (metadata lookout-backbone, e.g. mobilenetv2-int8), or
  // the backbone of an embedding head other than the method's own. Loaded on first use, once per worker.
  const extractors = new Map<string, Promise<{ embedder: OnnxEmbedder; extractor: FeatureExtractor }>>([
    [models.backbone, Promise.resolve({ embedder, extractor })],
  ]);
  const backboneOf = (name: string): Promise<{ embedder: OnnxEmbedder; extractor: FeatureExtractor }> => {
    let e = extractors.get(name);
    if (!e) {
      e = ctx.models.embedder(name).then((m) => ({ embedder: m, extractor: onnxFeatureExtractor(m) }));
      e.catch(() => extractors.delete(name));
      extractors.set(name, e);
    }
    return e;
  };
  const extractorOf = async (name: string): Promise<FeatureExtractor> => (await backboneOf(name)).extractor;

  /** The engine variant of the backbone a raster asks for (metadata lookout-backbone): a 3-channel embedding model with the backbone's feature size. */
  async function planBackbone(o: ObjectRef): Promise<{ name: string; version: number }> {
    const want = o.metadata?.['lookout-backbone']?.trim();
    if (!want || want === models.backbone) return { name: embedder.name, version: embedder.version };
    if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(want))
      throw new BadInputError(
        'UnknownBackbone',
        `metadata lookout-backbone ${JSON.stringify(want.slice(0, 60))} is not a model name`,
      );
    let b: { embedder: OnnxEmbedder };
    try {
      b = await backboneOf(want);
    } catch (err) {
      throw new BadInputError(
        'UnknownBackbone',
        `metadata lookout-backbone names ${want}, which this worker cannot load: ${(err as Error).message}`,
        err,
      );
    }
    if (b.embedder.channels !== 3 || b.embedder.latentSize !== embedder.latentSize)
      throw new BadInputError(
        'UnknownBackbone',
        `backbone ${want} must take 3 channels and give ${embedder.latentSize} features (it takes ${b.embedder.channels}, gives ${b.embedder.latentSize})`,
      );
    return { name: b.embedder.name, version: b.embedder.version };
  }

  /** The classifier a raster runs: metadata lookout-classifier (a name, or "none"), else the repository's first for the pipeline. */
  async function planClassifier(
    input: { pipeline: { name: string }; object: ObjectRef },
    r: Raster,
    names: string[],
    roles: BandRoles,
    rgb: [number, number, number] | null,
    notes: string[],
  ): Promise<RasterClassifierPlan | null> {
    const all = await classifiersOf(input.pipeline.name);
    const want = input.object.metadata?.['lookout-classifier']?.trim();
    if (want === 'none') return null;
    const byDefault = all.filter((x) => x.spec.byDefault !== false);
    const c = want ? all.find((x) => x.name === want) : byDefault[0];
    if (want && !c)
      throw new BadInputError(
        'UnknownClassifier',
        `metadata lookout-classifier names ${JSON.stringify(want.slice(0, 60))}, which the model repository does not declare for pipeline ${input.pipeline.name} (has: ${all.map((x) => x.name).join(', ') || 'none'})`,
      );
    if (!c) return null;
    if (!want && byDefault.length > 1)
      notes.push(
        `chip classifier: ${c.name} (also in the repository: ${byDefault
          .slice(1)
          .map((x) => x.name)
          .join(', ')}; metadata lookout-classifier chooses)`,
      );
    const spec = c.spec;
    let channels: number[] | null = null;
    let stretch: RasterClassifierPlan['stretch'] = null;
    if (spec.input === 'embedding') {
      if (!rgb) {
        notes.push(
          `chip classifier ${c.name} not run: it takes ${spec.backbone} features, which need red/green/blue bands`,
        );
        return null;
      }
    } else {
      const ch = classifierChannels(spec, names, roles, rgb);
      if (!ch.channels) {
        notes.push(`chip classifier ${c.name} not run: the raster has no ${ch.missing.join(', ')}`);
        return null;
      }
      channels = ch.channels;
      stretch = { min: [], max: [] };
      for (const b of channels) {
        const st = b >= 0 ? await sampleStretch(r, [b, b, b]) : null;
        stretch.min.push(st ? st.min[0] : 0);
        stretch.max.push(st ? st.max[0] : 1);
      }
    }
    return {
      model: c.name,
      version: c.version,
      input: spec.input,
      channels,
      stretch,
      placement: spec.placement ?? null,
    };
  }

  /** The head's input for one chip (null: none for this chip). */
  async function headInput(
    cls: RasterClassifierPlan,
    c: OnnxChipClassifier,
    plan: RasterPlan,
    chip: WindowData | null,
    features: Float32Array | null,
  ): Promise<Float32Array | null> {
    if (!chip) return null;
    if (c.spec.input === 'pixels') return chipToChannels01(chip, cls, c.spec.size!, plan.rgb, plan.stretch);
    if (!plan.rgb || !plan.stretch) return null;
    const backbone = c.spec.backbone!;
    // The method's backbone, or the engine variant standing in for it (plan.backbone): the features computed anyway.
    if (backbone === models.backbone) return features;
    const e = await extractorOf(backbone);
    return e.embed(chipToRgb01(chip, plan.rgb, plan.stretch, e.inputSize));
  }

  async function worldFileFor(o: ObjectRef): Promise<{ worldFile?: string; prj?: string }> {
    if (!/\.(jpe?g|png)$/i.test(o.name)) return {};
    for (const cand of worldFileCandidates(o.name)) {
      const s = await stat(o.bucket, cand);
      if (!s) continue;
      const worldFile = (
        await store.download({ bucket: o.bucket, name: cand, generation: s.generation }, 64 * 1024)
      ).toString('utf8');
      const prjName = o.name.replace(/\.[^./]+$/, '.prj');
      const ps = await stat(o.bucket, prjName);
      const prj = ps
        ? (await store.download({ bucket: o.bucket, name: prjName, generation: ps.generation }, 256 * 1024)).toString(
            'utf8',
          )
        : undefined;
      return { worldFile, prj };
    }
    return {};
  }

  /**
   * A STAC Item (a .json object): the Item is downloaded (bounded), checked, and its band assets opened by range
   * reads as one raster on the finest band's grid (media/stac.ts). Relative hrefs resolve against the Item's object.
   */
  async function openStacObject(o: ObjectRef): Promise<StacRaster> {
    const where = `gs://${o.bucket}/${o.name}`;
    const text = await store.download(o, STAC_ITEM_MAX_BYTES);
    const item = parseStacItem(text, where);
    return openStacRaster(
      item,
      async (band) => {
        const at = resolveAssetHref(band.href, o, band.key);
        const s = await stat(at.bucket, at.name);
        if (!s) throw new BadInputError('StacAssetMissing', `gs://${at.bucket}/${at.name} does not exist`);
        if (s.size === 0)
          throw new BadInputError('StacAssetUnreadable', `gs://${at.bucket}/${at.name} is empty (0 bytes)`);
        const src = await rangeSource({ bucket: at.bucket, name: at.name, generation: s.generation });
        return openRaster({ ...src, name: `gs://${at.bucket}/${at.name}` });
      },
      where,
    );
  }

  function openObject(o: ObjectRef): Promise<Raster> {
    return cache.get(`${o.bucket}/${o.name}#${o.generation}`, async () => {
      if (isStacJsonName(o.name, o.contentType)) return openStacObject(o);
      const src = await rangeSource(o);
      const epsg = positiveInt(o.metadata?.['lookout-epsg'], 1024, 999_999, 'lookout-epsg');
      return openRaster(src, { ...(await worldFileFor(o)), ...(epsg ? { epsg } : {}) });
    });
  }

  async function sampleStretch(r: Raster, rgb: [number, number, number]): Promise<Stretch> {
    // Up to 9 chips spread over the raster: enough for 2-98 % percentiles, a few range reads.
    const side = Math.min(128, r.width, r.height);
    const pts = [0.15, 0.5, 0.85];
    const samples: [number[], number[], number[]] = [[], [], []];
    for (const fy of pts) {
      for (const fx of pts) {
        const x = Math.min(
          r.width - side,
          Math.floor(fx * r.width - side / 2) < 0 ? 0 : Math.floor(fx * r.width - side / 2),
        );
        const y = Math.min(
          r.height - side,
          Math.floor(fy * r.height - side / 2) < 0 ? 0 : Math.floor(fy * r.height - side / 2),
        );
        let d: WindowData;
        try {
          d = await r.readWindow({ x, y, width: side, height: side }, [...rgb]);
        } catch (err) {
          // A sample over a corrupt tile is skipped: its chips fail on their own, the raster goes on.
          if (err instanceof BadInputError) continue;
          throw err;
        }
        for (let c = 0; c < 3; c++) for (let i = 0; i < d.bands[c].length; i += 3) samples[c].push(d.bands[c][i]);
      }
    }
    return percentileStretch(samples, r.nodata);
  }

  /**
   * The bank's live generation: stat, then download that generation. Another raster of the archive finishing in
   * between replaces the generation (the old one is gone: ObjectNotFound / GenerationMismatch): read again.
   */
  async function readBank(name: string): Promise<{ bank: KnnBank; generation: string } | null> {
    for (let attempt = 0; ; attempt++) {
      const s = await stat(ctx.resultsBucket, name);
      if (!s) return null;
      try {
        return {
          bank: KnnBank.parse(
            await store.download({ bucket: ctx.resultsBucket, name, generation: s.generation }, 64 * 2 ** 20),
            name,
          ),
          generation: s.generation,
        };
      } catch (err) {
        const cls = (err as { errorClass?: string }).errorClass;
        if (attempt >= 4 || (cls !== 'ObjectNotFound' && cls !== 'GenerationMismatch')) throw err;
      }
    }
  }

  async function loadBank(archive: string): Promise<KnnBank | null> {
    return (await readBank(`raster-banks/${safeKey(archive)}/bank.knn`))?.bank ?? null;
  }

  const runtime: MethodRuntime = {
    async detect() {
      throw new SetupError(
        'NotAnObjectMethod',
        'the raster method analyses rasters through the analyzeRaster workflow, not analyzeObject',
      );
    },
    async extract() {
      throw new SetupError(
        'NotAnObjectMethod',
        'the raster method analyses rasters through the analyzeRaster workflow, not analyzeObject',
      );
    },
    async score() {
      throw new SetupError(
        'NotAnObjectMethod',
        'the raster method analyses rasters through the analyzeRaster workflow, not analyzeObject',
      );
    },

    async planRaster(input, opts) {
      const o = input.object;
      const meta = o.metadata ?? {};
      const chipSize = positiveInt(meta['lookout-chip-size'], 8, 4096, 'lookout-chip-size') ?? opts.chipSize;
      const overlap =
        positiveInt(meta['lookout-chip-overlap'], 0, 4095, 'lookout-chip-overlap') ??
        Math.min(opts.chipOverlap, chipSize - 1);
      if (overlap >= chipSize)
        throw new BadInputError(
          'BadRasterOptions',
          `chip overlap ${overlap} must be smaller than the chip size ${chipSize}`,
        );
      const r = await openObject(o);
      const stac = isStacRaster(r) ? r.stac : null;
      const { names, source } = stac
        ? {
            names: stac.roleNames,
            source: `STAC Item ${stac.id}: ${stac.bands.map((b) => `${b.key}=${b.commonName}`).join(', ')} on the grid of ${stac.gridBand}`,
          }
        : bandNames(r.bandCount, meta);
      const roles = rolesOf(names);
      const notes: string[] = [`bands: ${source}`];
      const acquisition = acquisitionOf(meta, stac);
      const rgb: [number, number, number] | null =
        roles.red !== undefined && roles.green !== undefined && roles.blue !== undefined
          ? [roles.red, roles.green, roles.blue]
          : r.bandCount <= 2
            ? [0, 0, 0]
            : null;
      if (!rgb) notes.push('no red/green/blue bands named: no deep features (change_score and novelty_score null)');
      else if (r.bandCount <= 2) notes.push('single band shown to the backbone as grey');
      const cloudIdx = s2cloudlessBandIndices(stac ? stac.sensorNames : names);
      if (!cloudIdx.indices)
        notes.push(
          `cloud_fraction null: s2cloudless needs Sentinel-2 L1C bands, missing ${cloudIdx.missing.join(', ')}`,
        );
      else if (!cloud) notes.push('cloud_fraction null: s2cloudless model not loaded');
      if (roles.nir === undefined) notes.push('no NIR band: NDVI, NBR and NDWI not available');
      const grid = r.chipGrid(chipSize, overlap);
      const blockChips = Math.max(1, Math.floor(opts.blockChips));
      const blocksAcross = Math.ceil(grid.cols / blockChips);
      const blocks = blocksAcross * Math.ceil(grid.rows / blockChips);
      let before: ObjectRef | null = null;
      let stretchBefore: Stretch | null = null;
      const whole = r.placement({ x: 0, y: 0, width: r.width, height: r.height });
      // Before image, first that applies: a re-pair run's pair; metadata lookout-before; the previous acquisition of
      // the same place in the archive's rows (pairing by place and time); the *_before.* naming convention.
      const explicitCand = beforeCandidate(o);
      const pairWith = opts.pairWith ?? null;
      let cand = pairWith
        ? { bucket: pairWith.bucket, name: pairWith.name, explicit: true }
        : explicitCand?.explicit
          ? explicitCand
          : null;
      let how = pairWith ? 'pairing by place and time (re-pair)' : 'metadata lookout-before';
      if (!cand && acquisition.datetime && whole.footprint && ctx.acquisitions) {
        const f = whole.footprint;
        const { previous } = await ctx.acquisitions.neighbours({
          bucket: o.bucket,
          name: o.name,
          datetime: acquisition.datetime,
          place: acquisition.place,
          collection: acquisition.collection,
          footprint: { west: f.minLon, south: f.minLat, east: f.maxLon, north: f.maxLat },
        });
        ctx.heartbeat({ planning: 'previous acquisition' });
        if (previous) {
          try {
            const p: ObjectRef = {
              bucket: previous.bucket,
              name: previous.name,
              generation: previous.generation,
              size: 0,
              timeCreated: previous.datetime,
            };
            const b = await openObject(p);
            assertCoRegistered(b, r);
            if (b.bandCount !== r.bandCount)
              throw new BadInputError('NotCoRegistered', `before has ${b.bandCount} bands, after ${r.bandCount}`);
            before = p;
            if (rgb) stretchBefore = await sampleStretch(b, rgb);
            notes.push(
              `before: gs://${p.bucket}/${p.name} acquired ${previous.datetime} (previous acquisition of ${acquisition.place ?? 'the same footprint'})`,
            );
          } catch (err) {
            if (!(err instanceof BadInputError)) throw err;
            notes.push(
              `previous acquisition gs://${previous.bucket}/${previous.name} not used as before: ${err.message}`,
            );
          }
        }
      }
      if (!cand && !before && explicitCand) {
        cand = explicitCand;
        how = 'naming convention *_before.*';
      }
      if (cand) {
        const s = await stat(cand.bucket, cand.name);
        if (!s && cand.explicit)
          throw new BadInputError(
            'BeforeNotFound',
            `metadata lookout-before names gs://${cand.bucket}/${cand.name}, which does not exist`,
          );
        if (s) {
          // A re-pair names the exact generation it pairs with (its workflow ID does too).
          before = {
            bucket: cand.bucket,
            name: cand.name,
            generation: pairWith?.generation ?? s.generation,
            size: s.size,
            timeCreated: s.timeCreated,
            contentType: s.contentType,
          };
          const b = await openObject(before);
          assertCoRegistered(b, r);
          if (b.bandCount !== r.bandCount)
            throw new BadInputError('NotCoRegistered', `before has ${b.bandCount} bands, after ${r.bandCount}`);
          if (rgb) stretchBefore = await sampleStretch(b, rgb);
          notes.push(`before: gs://${cand.bucket}/${cand.name} (${how})`);
        }
      }
      if (!before)
        notes.push(
          'no before acquisition: change_score and index deltas null (cloud fraction, indices and novelty only)',
        );
      const classifier = await planClassifier(input, r, names, roles, rgb, notes);
      const backbone = rgb ? await planBackbone(o) : null;
      if (backbone && backbone.name !== models.backbone)
        notes.push(`backbone: ${backbone.name} v${backbone.version} (metadata lookout-backbone)`);
      const g = georefLabel(r);
      const folder = path.posix.dirname(o.name);
      return {
        format: r.format,
        width: r.width,
        height: r.height,
        bands: r.bandCount,
        dtype: r.dtype,
        crs: g.crs,
        georef: g.georef,
        georefNote: g.note ?? (whole.footprint ? null : (whole.reason ?? null)),
        chipSize,
        overlap,
        cols: grid.cols,
        rows: grid.rows,
        chips: grid.count,
        blockChips,
        blocksAcross,
        blocks,
        before,
        archive: meta['lookout-archive'] || `${o.bucket}/${folder === '.' ? '' : folder}`,
        prefix: safeKey(`rasters/${o.bucket}/${o.name}#${o.generation}`),
        rgb,
        cloudBands: cloud ? cloudIdx.indices : null,
        roles,
        notes,
        footprint: whole.footprint
          ? {
              wkt: whole.footprint.wkt,
              west: whole.footprint.minLon,
              south: whole.footprint.minLat,
              east: whole.footprint.maxLon,
              north: whole.footprint.maxLat,
            }
          : null,
        stretch: rgb ? await sampleStretch(r, rgb) : null,
        stretchBefore,
        classifier,
        backbone,
        acquisition,
      };
    },

    async analyzeRasterBlock(task, where, emitRow) {
      const { plan, input } = task;
      const pool = where.pool ?? 'cpu';
      const bb = plan.backbone ? await backboneOf(plan.backbone.name) : { embedder, extractor };
      if (bb.embedder.version !== (plan.backbone?.version ?? embedder.version))
        throw new SetupError(
          'BackboneVersion',
          `backbone ${bb.embedder.name}: planned with version ${plan.backbone?.version}, this worker has ${bb.embedder.version}`,
        );
      const t0 = Date.now();
      const windows = blockWindows(plan, task.block);
      const r = await openObject(input.object);
      const b = plan.before ? await openObject(plan.before) : null;
      const bank = await loadBank(plan.archive);
      let after: Array<WindowData | null>;
      let before: Array<WindowData | null> | null = null;
      const errors: Array<BadInputError | null> = windows.map(() => null);
      const record: BlockRecord = { block: task.block, chips: [], preview: null, features: null, dim: 0 };
      const wfId = where.workflowId;
      const report = (
        stage: StageReport['stage'],
        s: number,
        e: number,
        inferenceMs: number,
        batchSize?: number,
      ): StageReport => ({
        stage,
        pool,
        taskQueue: where.taskQueue,
        host: machineInfo().host,
        attempt: where.attempt,
        scheduledAt: s,
        startedAt: s,
        completedAt: e,
        inferenceMs,
        batchSize,
        executionProvider: bb.embedder.executionProvider,
        model: stage === 'extract' && plan.rgb ? { name: bb.embedder.name, version: bb.embedder.version } : undefined,
        ...(where.fellBack ? { fellBack: true } : {}),
      });
      try {
        [after, before] = await timeAsync('decode', () =>
          Promise.all([r.readChips(windows), b ? b.readChips(windows) : Promise.resolve(null)]),
        );
      } catch (err) {
        if (!(err instanceof BadInputError)) throw err;
        // Some bytes under the block cannot be decoded (a corrupt or missing tile): read chip by chip, so only
        // the chips over the bad bytes become failed rows and the rest of the raster goes on (a flagged partial
        // result, not a lost raster).
        after = [];
        before = b ? [] : null;
        for (const [i, w] of windows.entries()) {
          try {
            after.push(await r.readChip(w));
            if (b && before) before.push(await b.readChip(w));
          } catch (e) {
            if (!(e instanceof BadInputError)) throw e;
            after[i] = null;
            if (before) before[i] = null;
            errors[i] = e;
          }
        }
      }
      const readMs = Date.now() - t0;
      const preview = new PreviewBuilder(plan.width, plan.height, plan.rgb ? 3 : 1, PREVIEW_SIDE);
      let inferenceMs = 0;
      let top: { col: number; row: number; score: number } | null = null;
      const sampled: Float32Array[] = [];
      const sampleEvery = Math.max(1, Math.floor(windows.length / BANK_SAMPLES_PER_BLOCK));
      // Chips of a block are embedded concurrently, so the embedder's dynamic batching groups them.
      const feats = await Promise.all(
        windows.map(async (_, i) => {
          const a = after[i];
          const bw = before?.[i];
          if (!plan.rgb || !plan.stretch || !a) return { after: null, before: null, ms: 0 };
          const s = Date.now();
          const fa = await bb.extractor.embed(
            timeSync('preprocess', () => chipToRgb01(a, plan.rgb!, plan.stretch!, bb.extractor.inputSize)),
          );
          const fb =
            bw && plan.stretchBefore
              ? await bb.extractor.embed(
                  timeSync('preprocess', () => chipToRgb01(bw, plan.rgb!, plan.stretchBefore!, bb.extractor.inputSize)),
                )
              : null;
          return { after: fa, before: fb, ms: Date.now() - s };
        }),
      );
      const perChipRead = readMs / windows.length;
      // A user's chip classifier (plan.classifier): its inputs for every readable chip; run here, or (two-stage
      // placement) stored with the chip rows for classifyRasterBlock on the head's pool.
      const cls = plan.classifier ?? null;
      const head = cls ? await classifierOf(input.pipeline.name, cls) : null;
      const headInputs: Array<Float32Array | null> =
        head && cls
          ? await Promise.all(
              windows.map((_, i) => (errors[i] ? null : headInput(cls, head, plan, after[i], feats[i].after))),
            )
          : windows.map(() => null);
      const decisions: Array<{ score: number; label: string } | null> = windows.map(() => null);
      let headMs = 0;
      const withInput = headInputs.flatMap((x, i) => (x ? [i] : []));
      if (head && !task.deferHead && withInput.length > 0) {
        const h0 = Date.now();
        const res = await head.classify(withInput.map((i) => headInputs[i]!));
        headMs = Date.now() - h0;
        withInput.forEach((i, k) => (decisions[i] = res[k]));
      }
      const pending: PendingHead | null =
        task.deferHead && head
          ? { block: task.block, rows: [], input: [], inputs: '', dim: head.inputLength, doneAt: 0 }
          : null;
      const emit = async (
        row: Omit<AnalysisSummary, 'input' | 'runId' | 'workflowStartedAt'>,
        i: number,
      ): Promise<void> => {
        if (!pending) return emitRow(row);
        pending.rows.push(row);
        pending.input.push(headInputs[i] ? withInput.indexOf(i) : -1);
      };
      for (let i = 0; i < windows.length; i++) {
        const w = windows[i];
        const a = after[i];
        const err = errors[i];
        if (!a || err) {
          await emit(
            {
              workflowId: chipWorkflowId(wfId, w.col, w.row),
              failure: {
                stage: 'detect',
                errorClass: err?.errorClass ?? 'CorruptRaster',
                message: err?.message ?? 'chip unreadable',
                attempts: where.attempt,
                retryable: false,
              },
              raster: rasterRecord(plan, w, r, {}),
            },
            i,
          );
          record.chips.push({
            col: w.col,
            row: w.row,
            x: w.x,
            y: w.y,
            w: w.width,
            h: w.height,
            score: null,
            cloud: null,
            change: null,
            novelty: null,
            ndvi: null,
            nbr: null,
            ndwi: null,
            failed: err?.errorClass ?? 'CorruptRaster',
          });
          continue;
        }
        const bw = before?.[i] ?? null;
        const cs = Date.now();
        const cloudFraction =
          plan.cloudBands && cloud ? ((await chipCloudFraction(a, plan.cloudBands, cloud))?.fraction ?? null) : null;
        const f = feats[i];
        inferenceMs += f.ms;
        const { change, novelty, ndvi, nbr, ndwi, details, score } = timeSync('postprocess', () => {
          preview.add(
            w,
            previewBands(plan).map((bi) => a.bands[bi]),
            a.nodata,
          );
          const change = f.after && f.before ? cosineDistance(f.before, f.after) : null;
          const novelty =
            f.after && bank && bank.dim === f.after.length ? bank.query(f.after, NOVELTY_K).distance : null;
          if (f.after && i % sampleEvery === 0 && sampled.length < BANK_SAMPLES_PER_BLOCK) sampled.push(f.after);
          const details: Record<string, number | string> = {};
          let ndvi: number | null = null;
          let nbr: number | null = null;
          let ndwi: number | null = null;
          if (bw) {
            const sc = spectralChange(bw, a, plan.roles);
            ndvi = sc.meanDelta.ndvi ?? null;
            nbr = sc.meanDelta.nbr ?? null;
            ndwi = sc.meanDelta.ndwi ?? null;
            if (sc.evidence.burn !== null) details.burn_dnbr = round(sc.evidence.burn) as number;
            if (sc.evidence.flood !== null) details.flood_dndwi = round(sc.evidence.flood) as number;
            if (sc.evidence.vegetationLoss !== null)
              details.vegetation_loss = round(sc.evidence.vegetationLoss) as number;
            if (sc.score !== null) details.spectral_change = round(sc.score) as number;
          }
          const idx = chipIndices(a, plan.roles);
          for (const [k, v] of Object.entries(idx.mean))
            if (v !== null && v !== undefined) details[k] = round(v) as number;
          details.valid_fraction = round(idx.validFraction, 4) as number;
          return { change, novelty, ndvi, nbr, ndwi, details, score: change ?? novelty ?? null };
        });
        if (score !== null && (!top || score > top.score)) top = { col: w.col, row: w.row, score };
        const ce = Date.now();
        const fs = cs - f.ms;
        const row = timeSync('rows', () => ({
          workflowId: chipWorkflowId(wfId, w.col, w.row),
          detect: {
            report: report('detect', fs - perChipRead, fs, 0),
            machine: machineInfo(),
            width: w.width,
            height: w.height,
            format: `${plan.format}-chip`,
            boxes: [],
          },
          extract: {
            report: report('extract', fs, cs, f.ms, f.before ? 2 : f.after ? 1 : 0),
            featureNames: [],
            features: [],
          },
          score: {
            report: {
              ...report(
                'score',
                cs,
                ce,
                decisions[i] ? headMs / withInput.length : 0,
                decisions[i] ? withInput.length : undefined,
              ),
              ...(decisions[i] && head
                ? { model: { name: head.name, version: head.version }, executionProvider: head.executionProvider }
                : {}),
            },
            label: change !== null ? 'change' : 'chip',
            score,
            objects: [],
            details,
          },
          raster: rasterRecord(plan, w, r, {
            cloud_fraction: cloudFraction,
            change_score: change,
            novelty_score: novelty,
            ndvi_delta: ndvi,
            nbr_delta: nbr,
            ndwi_delta: ndwi,
            classifier_score: decisions[i]?.score ?? null,
            classifier_label: decisions[i]?.label ?? null,
          }),
        }));
        await emit(row, i);
        record.chips.push({
          col: w.col,
          row: w.row,
          x: w.x,
          y: w.y,
          w: w.width,
          h: w.height,
          score,
          cloud: cloudFraction,
          change,
          novelty,
          ndvi,
          nbr,
          ndwi,
          cls: decisions[i]?.score ?? null,
        });
        ctx.heartbeat({ block: task.block, chip: i });
      }
      const bbox = {
        x: windows[0].x,
        y: windows[0].y,
        width: Math.max(...windows.map((w) => w.x + w.width)) - windows[0].x,
        height: Math.max(...windows.map((w) => w.y + w.height)) - windows[0].y,
      };
      record.preview = preview.region(bbox);
      if (sampled.length > 0) {
        record.dim = sampled[0].length;
        const flat = new Float32Array(sampled.length * record.dim);
        sampled.forEach((v, i) => flat.set(v, i * record.dim));
        record.features = Buffer.from(flat.buffer).toString('base64');
      }
      await store.upload(
        ctx.resultsBucket,
        `${plan.prefix}/blocks/${task.block}.json`,
        Buffer.from(JSON.stringify(record)),
        'application/json',
        { 'lookout-derived': 'raster-block' },
      );
      if (pending) {
        // The head's inputs travel through the results bucket (64 chips x 1280 features are ~160 KiB even in
        // float16: too much for workflow history); the workflow passes only the block number.
        pending.inputs = packFloat16(
          withInput.map((i) => headInputs[i]!),
          pending.dim,
        );
        pending.doneAt = Date.now();
        await store.upload(
          ctx.resultsBucket,
          `${plan.prefix}/blocks/${task.block}.head.json`,
          Buffer.from(JSON.stringify(pending)),
          'application/json',
          { 'lookout-derived': 'raster-head-inputs' },
        );
      }
      const failedChips = errors.filter((e) => e).length;
      return {
        ok: windows.length - failedChips,
        failed: failedChips,
        top,
        inferenceMs,
        ...(pending ? { pendingHead: true } : {}),
      };
    },

    async classifyRasterBlock(task, where, emit) {
      const { plan, input } = task;
      const cls = plan.classifier;
      if (!cls)
        throw new SetupError('NoClassifier', 'classifyRasterBlock: the raster was planned without a chip classifier');
      const head = await classifierOf(input.pipeline.name, cls);
      const name = `${plan.prefix}/blocks/${task.block}.head.json`;
      const s = await stat(ctx.resultsBucket, name);
      if (!s)
        throw new SetupError(
          'HeadInputsMissing',
          `gs://${ctx.resultsBucket}/${name} is missing: the block's backbone stage did not finish`,
        );
      const p = JSON.parse(
        (await store.download({ bucket: ctx.resultsBucket, name, generation: s.generation }, 256 * 2 ** 20)).toString(
          'utf8',
        ),
      ) as PendingHead;
      const inputs = p.inputs ? unpackFloat16(p.inputs, p.dim) : [];
      const t0 = Date.now();
      const res = inputs.length ? await head.classify(inputs) : [];
      const t1 = Date.now();
      const byChip = new Map<string, number>();
      let ok = 0;
      let failed = 0;
      for (const [i, row] of p.rows.entries()) {
        const k = p.input[i];
        if (row.failure) failed++;
        else ok++;
        if (k >= 0 && row.raster && row.score) {
          const d = res[k];
          row.raster.classifier_score = round(d.score);
          row.raster.classifier_label = d.label;
          byChip.set(`${row.raster.chip_col},${row.raster.chip_row}`, d.score);
          // The score stage of a two-stage chip is the head: where, when and on what it ran.
          row.score.report = {
            ...row.score.report,
            pool: where.pool ?? 'cpu',
            taskQueue: where.taskQueue,
            host: machineInfo().host,
            attempt: where.attempt,
            scheduledAt: p.doneAt,
            startedAt: t0,
            completedAt: t1,
            inferenceMs: (t1 - t0) / inputs.length,
            batchSize: inputs.length,
            executionProvider: head.executionProvider,
            model: { name: head.name, version: head.version },
            ...(where.fellBack ? { fellBack: true } : {}),
          };
        }
        await emit(row);
      }
      // The block's record (for the summary, heatmap and GeoJSON) gets the scores too.
      const recName = `${plan.prefix}/blocks/${task.block}.json`;
      const rs = await stat(ctx.resultsBucket, recName);
      if (rs) {
        const rec = JSON.parse(
          (
            await store.download({ bucket: ctx.resultsBucket, name: recName, generation: rs.generation }, 256 * 2 ** 20)
          ).toString('utf8'),
        ) as BlockRecord;
        for (const c of rec.chips) c.cls = byChip.get(`${c.col},${c.row}`) ?? c.cls ?? null;
        await store.upload(ctx.resultsBucket, recName, Buffer.from(JSON.stringify(rec)), 'application/json', {
          'lookout-derived': 'raster-block',
        });
      }
      return { ok, failed, inferenceMs: t1 - t0 };
    },

    async finishRaster(input, plan, opts) {
      const r = await openObject(input.object);
      const preview = new PreviewBuilder(plan.width, plan.height, plan.rgb ? 3 : 1, PREVIEW_SIDE);
      const heat: Array<{ window: ChipWindow; score: number | null }> = [];
      const features: Float32Array[] = [];
      const agg = {
        cloud: [] as number[],
        change: [] as number[],
        novelty: [] as number[],
        ndvi: [] as number[],
        nbr: [] as number[],
        ndwi: [] as number[],
      };
      const clsScores: Array<number | null> = [];
      let chips = 0;
      let failed = 0;
      const fcChips: Parameters<typeof chipFeatureCollection>[0][number][] = [];
      for (let blk = 0; blk < plan.blocks; blk++) {
        const name = `${plan.prefix}/blocks/${blk}.json`;
        const s = await stat(ctx.resultsBucket, name);
        if (!s) {
          // A block with no record failed as a whole (its activity gave up): its chips count as failed.
          const n = blockWindows(plan, blk).length;
          chips += n;
          failed += n;
          continue;
        }
        const rec = JSON.parse(
          (await store.download({ bucket: ctx.resultsBucket, name, generation: s.generation }, 256 * 2 ** 20)).toString(
            'utf8',
          ),
        ) as BlockRecord;
        if (rec.preview) preview.addRegion(rec.preview);
        if (rec.features && rec.dim > 0) {
          const buf = Buffer.from(rec.features, 'base64');
          const flat = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
          for (let i = 0; i < flat.length / rec.dim; i++) features.push(flat.slice(i * rec.dim, (i + 1) * rec.dim));
        }
        for (const c of rec.chips) {
          chips++;
          if (c.failed) failed++;
          const w: ChipWindow = {
            x: c.x,
            y: c.y,
            width: c.w,
            height: c.h,
            col: c.col,
            row: c.row,
            index: c.row * plan.cols + c.col,
            clipped: c.w < plan.chipSize || c.h < plan.chipSize,
          };
          heat.push({ window: w, score: c.score });
          for (const [k, v] of [
            ['cloud', c.cloud],
            ['change', c.change],
            ['novelty', c.novelty],
            ['ndvi', c.ndvi],
            ['nbr', c.nbr],
            ['ndwi', c.ndwi],
          ] as const)
            if (v !== null) agg[k].push(v);
          clsScores.push(c.cls ?? null);
          fcChips.push({
            window: w,
            placement: r.placement(w),
            properties: {
              score: c.score,
              cloud_fraction: c.cloud,
              change_score: c.change,
              novelty_score: c.novelty,
              ndvi_delta: c.ndvi,
              nbr_delta: c.nbr,
              ndwi_delta: c.ndwi,
              ...(plan.classifier ? { classifier_score: c.cls ?? null } : {}),
              status: c.failed ? 'failed' : 'ok',
            },
          });
        }
        ctx.heartbeat({ finishing: blk });
      }
      const heatmap = await renderHeatmap(plan.width, plan.height, heat, preview.toImage());
      const heatName = `${plan.prefix}/heatmap.png`;
      await store.upload(ctx.resultsBucket, heatName, heatmap.png, 'image/png', {
        'lookout-derived': 'raster-heatmap',
        'lookout-score-range': heatmap.range.join(','),
      });
      const fc = chipFeatureCollection(fcChips, {
        raster: `gs://${input.object.bucket}/${input.object.name}#${input.object.generation}`,
        crs: plan.crs,
        georef: plan.georef,
        before: plan.before?.name ?? null,
      });
      const geoName = `${plan.prefix}/chips.geojson`;
      await store.upload(ctx.resultsBucket, geoName, Buffer.from(JSON.stringify(fc)), 'application/geo+json', {
        'lookout-derived': 'raster-geojson',
      });
      // The archive bank learns this raster's chips after they were scored against it: a later acquisition
      // of the archive is novel where it differs from every earlier one.
      let bankSize: number | null = null;
      // A re-pair run analyses an acquisition already in the bank: its chips are not added twice.
      if (features.length > 0 && !opts?.pairWith) bankSize = await updateBank(plan.archive, features);
      const mean = (v: number[]) => (v.length ? v.reduce((s, x) => s + x, 0) / v.length : null);
      const max = (v: number[]) => (v.length ? Math.max(...v) : null);
      const head = plan.classifier ? await classifierOf(input.pipeline.name, plan.classifier) : null;
      return {
        classifier: head && plan.classifier ? classifierSummary(plan.classifier, head.spec, clsScores) : null,
        heatmapUri: `gs://${ctx.resultsBucket}/${heatName}`,
        geojsonUri: `gs://${ctx.resultsBucket}/${geoName}`,
        chips,
        chipsFailed: failed,
        bankSize,
        summary: {
          cloud_fraction: mean(agg.cloud),
          change_score: max(agg.change),
          novelty_score: max(agg.novelty),
          ndvi_delta: mean(agg.ndvi),
          nbr_delta: mean(agg.nbr),
          ndwi_delta: mean(agg.ndwi),
        },
      };
    },

    async pairAcquisition(input, plan) {
      return ctx.acquisitions ? acquisitionRepairs(ctx.acquisitions, input, plan, ctx.heartbeat) : [];
    },

    loadedModels() {
      return [
        `${embedder.name} v${embedder.version} (${embedder.executionProvider})`,
        ...(cloud ? [`${cloudModelName} (cpu)`] : []),
        ...loadedClassifiers.map((c) => `${c.name} v${c.version} (chip classifier, ${c.executionProvider})`),
      ];
    },
  };

  /** Adds features to the archive's bank; a concurrent writer is detected by the generation precondition and retried. */
  async function updateBank(archive: string, add: Float32Array[]): Promise<number | null> {
    if (!store.uploadIfGeneration) return null;
    const name = `raster-banks/${safeKey(archive)}/bank.knn`;
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await readBank(name);
      const s = cur ? { generation: cur.generation } : null;
      const old = cur?.bank ?? null;
      const all: Float32Array[] =
        old && old.dim === add[0].length
          ? [...Array.from({ length: old.count }, (_, i) => old.vector(i)), ...add]
          : add;
      const { bank } = KnnBank.build(all, { metric: 'cosine', maxSize: BANK_MAX, seed: 7 });
      if (await store.uploadIfGeneration(ctx.resultsBucket, name, bank.serialize(), s?.generation ?? '0'))
        return bank.count;
    }
    return null;
  }

  return runtime;
}

export const rasterChangeMethod: MethodDefinition = {
  name: 'raster-change',
  description:
    'satellite / aerial rasters in chips: cloud fraction (s2cloudless), spectral indices, deep-feature change against a before acquisition, novelty against the archive',
  accepts: { images: false, videos: false, triplets: false, rasters: true },
  models: { backbone: 'mobilenetv2', cloud: 's2cloudless' },
  rowFields: {
    ndvi: 'chip-mean NDVI of this acquisition (where red and NIR bands exist)',
    nbr: 'chip-mean NBR (NIR and SWIR2)',
    ndwi: 'chip-mean NDWI (green and NIR)',
    gli: 'chip-mean green leaf index (RGB)',
    valid_fraction: 'share of the chip valid for every index',
    burn_dnbr: 'with a before image: dNBR = NBR_before - NBR_after',
    flood_dndwi: 'with a before image: NDWI_after - NDWI_before',
    vegetation_loss: 'with a before image: NDVI_before - NDVI_after (GLI without NIR)',
    spectral_change: 'with a before image: largest mean |index delta|',
  },
  load: (ctx) => loadRasterRuntime(ctx, { backbone: 'mobilenetv2', cloud: 's2cloudless' }),
};

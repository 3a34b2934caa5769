/**
 * The cctv-attributes method as Lookout serves it: videos in segments of consecutive frames (tracks need
 * them), a row per frame with per-object scores and reasons, annotated JPEGs of flagged frames, and
 * `lookout fit` on normal footage (segments observed on the workers, the model fitted in one activity).
 */
import type { FeaturesRef } from '../../core/types';
import type { SceneFormat } from '../../io/scenes';
import type { FitResult, FrameAnalysis, MethodDefinition, MethodRuntime } from '../method';
import type { RefitResult } from '../../core/types';
import type { AnalyzerState } from './analyzer';
import { BadInputError, SetupError } from '../../core/errors';
import {
  fitAttributeModel,
  frameScores,
  parseAttributeModel,
  scoreObservations,
  serializeAttributeModel,
  type AttributeModel,
  type FitReport,
  type SmootherState,
} from './model';
import type { FrameObservations } from './observations';
import { alertsOverChunk, coreset, eligibility, refitNormal, type NormalChunk, type PendingChunk } from './online';
import { EpisodeTracker, episodeOptionsAt, type Episode, type EpisodeState } from '../../runtime/episodes';
import { timeAsync, timeSync } from '../../runtime/steps';
import type { RuleAlertState, RuleEpisodeDraft, ZonesDoc } from '../../runtime/zones';
import type { DrawnZone } from '../../media/annotate';

/** The pose step's model (models/movenet), loaded only with the pose step on (MethodContext.pose, LOOKOUT_CCTV_POSE). */
export const POSE_MODEL = 'movenet';

/** Attribute scene models live beside the seed method's, in their own folder of the scene. */
export const ATTRIBUTES_SCENE_FORMAT: SceneFormat<AttributeModel> = {
  dir: 'cctv-attributes',
  file: 'scene.lkam',
  parse: parseAttributeModel,
};

/** What travels from one segment to the next: the tracks (analyzer), the trailing frame scores (smoother), the alert episode. */
interface CarriedState {
  analyzer?: AnalyzerState;
  smoother?: SmootherState;
  episodes?: EpisodeState;
  alert?: AlertDraft;
  /** Zones and rules (runtime/zones.ts): when each track entered each zone, the rule episodes open or merging. */
  rules?: RuleAlertState;
}

/** What an alert row needs beyond the episode's frames, gathered while it is pending or open. */
interface AlertDraft {
  /** The peak frame's reasons ("person #4: speed …"), its annotated JPEG (written when the peak may leave memory). */
  peakFrame: number | null;
  peakReasons: string[];
  annotated?: string;
  clip?: string;
  /** Reason texts seen on flagged objects during the episode, by attribute, with how many frames. */
  attributes: Record<string, number>;
  objects: Array<{ label: string; x: number; y: number; w: number; h: number; score: number }>;
}

const emptyDraft = (): AlertDraft => ({ peakFrame: null, peakReasons: [], attributes: {}, objects: [] });

type Explained = {
  label: string;
  trackId: number | null;
  reasons: ReadonlyArray<{ text: string }>;
  strongest?: { text: string };
};

/** One line per object: "person #12: speed 3.8× …; moving up, …" (its reasons, else its strongest part). */
function reasonLines(objects: ReadonlyArray<Explained>): string[] {
  return objects
    .map((o, i) => ({
      o,
      i,
      texts: o.reasons.length ? o.reasons.map((r) => r.text) : o.strongest ? [o.strongest.text] : [],
    }))
    .filter((x) => x.texts.length > 0)
    .map(
      ({ o, i, texts }) => `${o.label}${o.trackId !== null ? ` #${o.trackId}` : ` (box ${i})`}: ${texts.join('; ')}`,
    );
}

/** The boxes of an annotated frame: every object, with its anomaly score; the `marked` ones red with their `note`. */
function drawnObjects<O extends { label: string; x: number; y: number; w: number; h: number; score: number }>(
  objects: readonly O[],
  marked: (o: O) => boolean,
  note: (o: O) => string | undefined,
) {
  return objects.map((o) => ({
    classId: -1,
    label: o.label,
    score: 0,
    x: o.x,
    y: o.y,
    w: o.w,
    h: o.h,
    anomalyScore: o.score,
    abnormal: marked(o),
    note: marked(o) ? note(o) : undefined,
  }));
}

/**
 * Observations stored by reference (normal footage for a fit, analysed footage for a refit, a version's normal
 * set): JSON lines, embeddings as base64 float32. A track's vector is recomputed about twice a second and repeated
 * in between (analyzer.ts), so a repeat is written as "=" (the track's previous vector in the same file or chunk).
 */
export function encodeObservations(frames: FrameObservations[]): Buffer {
  const last = new Map<number, Float32Array>();
  const same = (a: Float32Array, b: Float32Array | undefined) =>
    !!b &&
    (a === b ||
      (a.length === b.length &&
        Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))));
  return Buffer.from(
    frames
      .map((f) =>
        JSON.stringify({
          ...f,
          objects: f.objects.map((o) => {
            let embedding: string | undefined;
            if (o.embedding) {
              const prev = o.trackId !== null ? last.get(o.trackId) : undefined;
              embedding = same(o.embedding, prev)
                ? '='
                : Buffer.from(o.embedding.buffer, o.embedding.byteOffset, o.embedding.byteLength).toString('base64');
              if (o.trackId !== null) last.set(o.trackId, o.embedding);
            }
            return { ...o, embedding };
          }),
        }),
      )
      .join('\n'),
  );
}

function decodeLines(lines: string[]): FrameObservations[] {
  const last = new Map<number, Float32Array>();
  return lines.map((line) => {
    const f = JSON.parse(line) as FrameObservations & { objects: Array<{ embedding?: string }> };
    return {
      ...f,
      objects: f.objects.map((o) => {
        const trackId = (o as { trackId: number | null }).trackId;
        if (typeof o.embedding !== 'string') return { ...o, embedding: undefined };
        if (o.embedding === '=') {
          const prev = trackId !== null ? last.get(trackId) : undefined;
          if (!prev)
            throw new SetupError('InvalidObservations', `a repeated vector of track ${trackId} with none before it`);
          return { ...o, embedding: prev };
        }
        const b = Buffer.from(o.embedding, 'base64');
        const v = new Float32Array(b.length / 4);
        Buffer.from(v.buffer).set(b);
        if (trackId !== null) last.set(trackId, v);
        return { ...o, embedding: v };
      }),
    } as FrameObservations;
  });
}

export function decodeObservations(buf: Buffer): FrameObservations[] {
  return decodeLines(buf.toString('utf8').split('\n').filter(Boolean));
}

/** Chunks of observations in one file: a header line `{"chunk": …}` before each chunk's frames. */
export function encodeChunks(chunks: ReadonlyArray<{ header: object; frames: FrameObservations[] }>): Buffer {
  return Buffer.concat(
    chunks.flatMap((c, i) => [
      Buffer.from(`${i ? '\n' : ''}${JSON.stringify({ chunk: c.header })}${c.frames.length ? '\n' : ''}`),
      encodeObservations(c.frames),
    ]),
  );
}

export function decodeChunks<H>(buf: Buffer): Array<{ header: H; frames: FrameObservations[] }> {
  const out: Array<{ header: H; lines: string[] }> = [];
  for (const line of buf.toString('utf8').split('\n')) {
    if (!line) continue;
    if (line.startsWith('{"chunk":')) out.push({ header: (JSON.parse(line) as { chunk: H }).chunk, lines: [] });
    else if (out.length) out[out.length - 1].lines.push(line);
    else throw new SetupError('InvalidObservations', 'observations before the first chunk header');
  }
  return out.map((c) => ({ header: c.header, frames: decodeLines(c.lines) }));
}

/** A version's normal set (the chunks it was fitted on) and its manifest, beside scene.lkam. */
export const NORMAL_SET_FILE = 'normal.jsonl';
export const ONLINE_MANIFEST_FILE = 'online.json';

/** Where the observations of analysed footage wait to join a scene's normal model. */
export function pendingPrefix(scene: string): string {
  return `observations/scenes/${scene}/pending/`;
}

/** The header of a stored chunk of analysed footage (one segment). */
export interface PendingHeader {
  id: string;
  video: { bucket: string; name: string; generation: string };
  pipeline: string;
  /** First and last frame of the segment. */
  first: number;
  last: number;
  /** When it was analysed (ms since the epoch): its age counts from then. */
  analysedAt: number;
  /** Alert episodes open or pending in the segment (their first frames). */
  episodeStarts: number[];
}

/**
 * A tracked object's appearance is embedded about twice a second, not every frame (new tracks at once): MobileNetV2
 * on every object of every frame cost ~250 ms a frame on 2 busy cores, and a person's look does not change in 0.5 s.
 */
export function embedEvery(fps: number): number {
  return Math.max(1, Math.round(fps / 2));
}

/**
 * Frames of an alert clip before its first and after its last flagged frame: two seconds each, fewer for large
 * frames, since the frames before are held decoded until an alert comes (at most 64 MiB of them).
 */
export function alertClipFrames(fps: number, width: number, height: number): { pre: number; post: number } {
  const two = Math.max(1, Math.round(2 * fps));
  return { pre: Math.min(two, Math.floor((64 * 2 ** 20) / Math.max(1, width * height * 3))), post: two };
}

export const cctvAttributesMethod: MethodDefinition = {
  name: 'cctv-attributes',
  description:
    "attribute-based anomaly detection for fixed cameras (after Reiss & Hoshen 2022): tracks, speed, direction, where/what, size, dwell and deep appearance against the scene's normal footage, with reasons",
  accepts: { images: false, videos: 'segments', triplets: false },
  defaultVideoEvery: 1,
  // The optional pose model (POSE_MODEL) is not listed: a model repository without it still serves this pipeline.
  models: { detect: 'nanodet', appearance: 'mobilenetv2' },
  // The CCTV detector settings (docs/eval/detector.md: person recall 0.885 at precision 1.000 on held-out frames),
  // with vehicles kept from score 0.3: a missed vehicle is a missed anomaly, while a false vehicle box that stays
  // put is part of the scene's normal footage (models/nanodet/manifest.json, profile notes).
  detectionProfile: 'cctv-anomaly',
  rowFields: {
    scene: 'scene model used',
    scene_version: 'its version',
    threshold: 'smoothed frame score above which the frame is flagged',
    smoothed: 'the frame score smoothed over time (the raw score is the row score)',
    abnormal_objects: 'objects flagged in this frame',
    reasons:
      'why each flagged object is unusual, e.g. "person #12: speed 3.8x the 99th percentile for people in this part of the scene"; alert rows: the peak frame\'s, never empty',
    annotated: 'gs:// URI of the annotated JPEG (flagged frames; alert rows: the peak frame)',
    clip: "gs:// URI of the alert's annotated MP4 clip: about 2 s before the episode opens to 2 s after it ends (frames of an open episode, alert rows)",
    alert_start:
      'frames inside an open alert episode: the first frame of that episode (its alert row is …@alert<alert_start>)',
    kind: "alert rows (label 'alert', one per alert episode): 'alert-episode'",
    reason_kind:
      "alert rows: 'learned' (the scene model found the frames unusual) or 'rule' (a zone's rule was broken, docs/cctv-zones.md)",
    zone: 'rule alerts: the name of the zone whose rule was broken',
    rule: 'rule alerts: the rule type (no-entry, loitering, direction, speed-limit)',
    rule_text: "rule alerts: the rule in words, e.g. 'loitering over 20 s'",
    zones_version: "rule alerts: the version of the scene's zones file the rule came from",
    hit_frames: 'rule alerts: frames of the episode in which an object broke the rule',
    rule_hits:
      "frames where an object broke a zone's rule: the reasons, e.g. \"person #4 in zone 'door' (no entry for person)\"",
    start_frame: 'alert rows: first frame of the episode (its first frame above the threshold)',
    end_frame: 'alert rows: last frame of the episode at or above the lower (closing) level',
    start_s: 'alert rows: start_frame in seconds',
    end_s: 'alert rows: end_frame in seconds',
    duration_s: 'alert rows: length of the episode in seconds',
    alert_frame: 'alert rows: the frame at which the alert was raised (after the persistence frames)',
    alert_s: 'alert rows: alert_frame in seconds',
    peak_frame:
      "alert rows: the frame with the highest unsmoothed score (its reasons and annotated JPEG are the alert's)",
    peak_level: 'alert rows: highest smoothed score of the episode over the threshold',
    parts: 'alert rows: episodes merged into this one (closer than the merge gap)',
    attributes:
      'alert rows: the attributes behind the reasons (speed, direction, location, size, dwell, appearance; pose, limbs with the pose step), comma-separated',
    frame: 'frame index in the video',
    time_s: 'frame time in seconds',
    captured_at: 'live streams: when the frame was filmed',
  },
  fit: {
    description:
      'per-region statistics of normal tracks (class, size, speed, direction, dwell) and a coreset kNN bank of appearance features, calibrated cross-fitted on the normal footage (5 time blocks, each scored by a model of the other four)',
    defaults: { k: 8, seed: 7, quantile: 0.97 },
    sceneFormat: ATTRIBUTES_SCENE_FORMAT,
    refits: true,
    async describeReport(result) {
      if (!result.report) return { lines: [], files: {} };
      // Loaded when asked: plot.ts needs sharp, which the dispatcher never loads.
      const { describeFitReport } = require('./plot') as typeof import('./plot');
      return describeFitReport(result.report as FitReport);
    },
  },
  async load(ctx): Promise<MethodRuntime> {
    // Required here, not at the top: the dispatcher reads this definition without loading onnxruntime and sharp.
    const { RgbCropEmbedder } = require('../../runtime/embedder') as typeof import('../../runtime/embedder');
    const { SegmentAnalyzer } = require('./analyzer') as typeof import('./analyzer');
    const { annotate } = require('../../media/annotate') as typeof import('../../media/annotate');
    const { AlertClips } = require('../../media/clip') as typeof import('../../media/clip');
    const detector = await ctx.models.detector(this.models.detect, this.detectionProfile);
    const backbone = await ctx.models.embedder(this.models.appearance);
    const embedder = new RgbCropEmbedder(backbone);
    // The optional pose step (off by default): MoveNet on person crops at the appearance cadence.
    let pose: Awaited<ReturnType<NonNullable<typeof ctx.models.pose>>> | undefined;
    if (ctx.pose) {
      if (!ctx.models.pose)
        throw new SetupError(
          'ModelUnavailable',
          'the pose step is switched on but this model loader has no pose models',
        );
      pose = await ctx.models.pose(POSE_MODEL);
    }
    const scenes = ctx.sceneStore(ATTRIBUTES_SCENE_FORMAT);
    const { ZONES_FORMAT, loadZones } = require('../../io/zones') as typeof import('../../io/zones');
    const { RuleAlerts, describeRule, ruleReasons } =
      require('../../runtime/zones') as typeof import('../../runtime/zones');
    const zoneStore = ctx.sceneStore(ZONES_FORMAT);
    const notImages = async (): Promise<never> => {
      throw new BadInputError(
        'UnsupportedMedia',
        "cctv-attributes analyses videos (a camera's consecutive frames), not single images",
      );
    };
    return {
      loadedModels: () =>
        [detector, backbone, ...(pose ? [pose] : [])].map((m) => `${m.name} v${m.version} (${m.executionProvider})`),
      detect: notImages,
      extract: notImages,
      score: notImages,

      async analyzeSegment(seg, frames, state, emit) {
        const scene = seg.scene ?? 'default';
        const { model, version } = await scenes.load(scene);
        const carried = (state ?? {}) as CarriedState;
        const analyzer = new SegmentAnalyzer(
          { detector, embedder, pose },
          { fps: seg.fps, embedEvery: embedEvery(seg.fps) },
          carried.analyzer,
        );
        let smoother = carried.smoother;
        // Alerts as operators count them: one episode per event (runtime/episodes.ts), one row per episode.
        const episodes = new EpisodeTracker(episodeOptionsAt(seg.fps), carried.episodes);
        let draft: AlertDraft = carried.alert ?? emptyDraft();
        // Zones and rules beside the learned model: the scene's newest zones, read at each segment. Rule episodes
        // still open when zones were cleared are closed by the frames that follow (no zone, no hit).
        const zones = await loadZones(zoneStore, scene);
        const noZones: ZonesDoc = { format: 'lookout-zones', version: 1, zones: [] };
        const rules =
          zones?.doc.zones.length || carried.rules
            ? new RuleAlerts(zones?.doc ?? noZones, { fps: seg.fps }, carried.rules)
            : null;
        const zonesPx = (w: number, h: number, hit: ReadonlySet<string> = new Set()): DrawnZone[] =>
          (zones?.doc.zones ?? []).map((z) => ({
            name: z.name,
            points: z.points.map(([x, y]) => [x * w, y * h] as const),
            hit: hit.has(z.name),
          }));
        /** The peak frame, in memory until its episode ends or the segment does (then it is written as a JPEG). */
        let peakImage: PeakCandidate['image'] | null = null;
        type PeakCandidate = {
          frame: number;
          reasons: string[];
          objects: AlertDraft['objects'];
          image: { frame: number; rgb: Buffer; width: number; height: number; drawn: Drawn };
        };
        /** The best frame of a run above the threshold that has not opened (or merged into) an episode yet. */
        let runPeak: PeakCandidate | null = null;
        const adopt = (p: PeakCandidate) => {
          draft.peakFrame = p.frame;
          draft.peakReasons = p.reasons;
          draft.objects = p.objects;
          draft.annotated = undefined;
          peakImage = p.image;
          if (runPeak === p) runPeak = null;
        };
        const prefix = `results/${seg.video.bucket}/${seg.video.name}#${seg.video.generation}`;
        type Drawn = { objects: Parameters<typeof annotate>[1]; title: string; zones?: DrawnZone[] };
        const clips = new AlertClips<Drawn>({
          fps: seg.fps,
          ...alertClipFrames(seg.fps, seg.width, seg.height),
          draw: (c) =>
            annotate(
              { data: c.rgb, width: c.width, height: c.height, format: 'raw' },
              c.marks.objects,
              c.marks.title,
              'rgb',
              c.marks.zones,
            ),
          nameFor: (first) => `${prefix}/alert-f${String(first).padStart(7, '0')}.mp4`,
          save: (name, mp4) =>
            ctx.store.upload(ctx.resultsBucket, name, mp4, 'video/mp4', { 'lookout-derived': 'alert-clip' }),
        });
        const writePeak = async (): Promise<void> => {
          if (!peakImage || peakImage.frame !== draft.peakFrame) return;
          const jpeg = await annotate(
            { data: peakImage.rgb, width: peakImage.width, height: peakImage.height, format: 'raw' },
            peakImage.drawn.objects,
            peakImage.drawn.title,
            'jpeg',
            peakImage.drawn.zones,
          );
          const name = `${prefix}/alert-f${String(peakImage.frame).padStart(7, '0')}.peak.jpg`;
          await ctx.store.upload(ctx.resultsBucket, name, jpeg, 'image/jpeg', { 'lookout-derived': 'annotated' });
          draft.annotated = `gs://${ctx.resultsBucket}/${name}`;
          peakImage = null;
        };
        const emitAlert = async (e: Episode): Promise<void> => {
          await writePeak();
          const d = draft;
          draft = emptyDraft();
          // Never an alert without its reason: the peak frame's, else the reasons seen during the episode, else the score itself.
          const byAttr = Object.entries(d.attributes).sort((x, y) => y[1] - x[1]);
          const reasons = d.peakReasons.length
            ? d.peakReasons.join(' | ')
            : byAttr.length
              ? byAttr.map(([a, n]) => `${a} (${n} frames)`).join(' | ')
              : `frame score ${e.maxLevel.toFixed(2)}× the scene's threshold for ${((e.end - e.start + 1) / seg.fps).toFixed(1)} s`;
          const details: Record<string, number | string> = {
            kind: 'alert-episode',
            reason_kind: 'learned',
            scene,
            scene_version: version,
            threshold: model.threshold,
            start_frame: e.start,
            end_frame: e.end,
            start_s: Math.round(e.startS * 1000) / 1000,
            end_s: Math.round(e.endS * 1000) / 1000,
            duration_s: Math.round(((e.end - e.start + 1) / seg.fps) * 1000) / 1000,
            alert_frame: e.openedAt,
            alert_s: Math.round(e.openedS * 1000) / 1000,
            peak_frame: e.peakFrame,
            peak_level: Math.round(e.maxLevel * 1e4) / 1e4,
            parts: e.parts,
            reasons,
            attributes: byAttr.map(([a]) => a).join(',') || 'score',
          };
          if (d.annotated) details.annotated = d.annotated;
          if (d.clip) details.clip = d.clip;
          await emit({
            frame: e.peakFrame,
            rowKind: 'alert',
            alertStart: e.start,
            label: 'alert',
            score: Math.round(e.peakValue * model.threshold * 1e6) / 1e6,
            objects: d.objects.map((o) => ({
              classId: -1,
              label: o.label,
              score: 0,
              x: o.x,
              y: o.y,
              w: o.w,
              h: o.h,
              anomalyScore: o.score,
            })),
            details,
            ms: { detect: 0, extract: 0, score: 0, inference: 0 },
            model: { name: detector.name, version: detector.version },
            executionProvider: detector.executionProvider,
          });
        };
        /** A rule episode's row: the same alert-episode row as a learned one, with reason_kind 'rule'. */
        const emitRuleAlert = async (e: Episode, d: RuleEpisodeDraft): Promise<void> => {
          const details: Record<string, number | string> = {
            kind: 'alert-episode',
            reason_kind: 'rule',
            scene,
            zone: d.zone,
            rule: d.rule.type,
            rule_text: describeRule(d.rule),
            start_frame: e.start,
            end_frame: e.end,
            start_s: Math.round(e.startS * 1000) / 1000,
            end_s: Math.round(e.endS * 1000) / 1000,
            duration_s: Math.round(((e.end - e.start + 1) / seg.fps) * 1000) / 1000,
            alert_frame: e.openedAt,
            alert_s: Math.round(e.openedS * 1000) / 1000,
            peak_frame: e.peakFrame,
            parts: e.parts,
            hit_frames: d.hitFrames,
            reasons: ruleReasons(d).join(' | '),
            attributes: `rule,rule:${d.rule.type}`,
          };
          if (d.zonesVersion !== undefined) details.zones_version = d.zonesVersion;
          if (d.annotated) details.annotated = d.annotated;
          if (d.clip) details.clip = d.clip;
          await emit({
            frame: e.peakFrame,
            rowKind: 'alert',
            alertStart: e.start,
            alertKey: `rule${d.key.replace(':', '.')}`,
            label: 'alert',
            // A rule is broken or not: no score.
            score: null,
            objects: (d.peak?.objects ?? []).map((o) => ({
              classId: -1,
              label: o.label,
              score: 0,
              x: o.x,
              y: o.y,
              w: o.w,
              h: o.h,
            })),
            details,
            ms: { detect: 0, extract: 0, score: 0, inference: 0 },
            model: { name: detector.name, version: detector.version },
            executionProvider: detector.executionProvider,
          });
        };
        // Learning normal as footage flows: the segment's observations are kept (one chunk) for `lookout refit`.
        const observed: FrameObservations[] = [];
        const episodeStarts = new Set<number>();
        try {
          let t0 = performance.now();
          // The next frame is decoded and detected while this one is scored and written (analyzer.frames).
          for await (const { frame: f, observations: obs } of analyzer.frames(frames)) {
            const t1 = performance.now();
            if (ctx.keepObservations) observed.push(obs);
            // The frame's scores, reasons and boxes: synchronous, booked to the `score` step.
            const { scored, frameScore, flagged, objects, details, drawn, step, th } = timeSync('score', () => {
              const [scored] = scoreObservations(model, [obs]);
              const fs = frameScores(model, [scored], smoother);
              smoother = fs.state;
              const frameScore = fs.frames[0];
              const flagged = scored.objects.map((o, i) => ({ o, i })).filter((x) => x.o.abnormal);
              const objects = scored.objects.map((o, i) => ({
                classId: -1,
                label: o.label,
                score: obs.objects[i]?.score ?? 0,
                x: o.x,
                y: o.y,
                w: o.w,
                h: o.h,
                anomalyScore: o.score,
              }));
              const details: Record<string, number | string> = {
                scene,
                scene_version: version,
                threshold: model.threshold,
                smoothed: Math.round(frameScore.smoothed * 1e4) / 1e4,
                abnormal_objects: flagged.length,
              };
              if (flagged.length)
                details.reasons = flagged
                  .map(
                    ({ o, i }) =>
                      `${o.label}${o.trackId !== null ? ` #${o.trackId}` : ` (box ${i})`}: ${o.reasons.map((r) => r.text).join('; ')}`,
                  )
                  .join(' | ');
              const drawn: Drawn = {
                objects: drawnObjects(
                  scored.objects,
                  (o) => o.abnormal,
                  (o) => o.reasons[0]?.text,
                ),
                title: `frame ${f.index}  score ${frameScore.smoothed.toFixed(2)}${frameScore.abnormal ? ` > ${model.threshold.toFixed(2)}` : ''}  ${flagged.length} flagged`,
              };
              // Episodes: the smoothed score opens and closes them, the unsmoothed one picks the peak frame.
              const th = model.threshold > 0 && Number.isFinite(model.threshold) ? model.threshold : Infinity;
              const step = episodes.push({
                frame: f.index,
                timeS: f.index / seg.fps,
                level: frameScore.smoothed / th,
                peak: frameScore.raw / th,
              });
              return { scored, frameScore, flagged, objects, details, drawn, step, th };
            });
            // Zones and rules, on the same tracks (foot points of this frame's observations).
            const rstep = rules?.push(obs);
            if (rstep) {
              drawn.zones = zonesPx(f.width, f.height, new Set(rstep.hits.map((h) => h.zone)));
              if (rstep.hits.length) details.rule_hits = [...new Set(rstep.hits.map((h) => h.text))].join(' | ');
              for (const c of rstep.closed) await emitRuleAlert(c.episode, c.draft);
              for (const o of rstep.opened) {
                // The frame the rule fired is the alert's peak frame: written now, with its zone and the objects that broke it.
                const jpeg = await annotate(
                  { data: f.rgb, width: f.width, height: f.height, format: 'raw' },
                  [
                    ...drawnObjects(
                      scored.objects,
                      () => false,
                      () => undefined,
                    ),
                    ...(o.draft.peak?.objects ?? []).map((p) => ({
                      classId: -1,
                      label: p.label,
                      score: 0,
                      x: p.x,
                      y: p.y,
                      w: p.w,
                      h: p.h,
                      abnormal: true,
                      note: p.note,
                    })),
                  ],
                  `rule alert: frame ${f.index}  zone '${o.draft.zone}': ${describeRule(o.draft.rule)}`,
                  'jpeg',
                  zonesPx(f.width, f.height, new Set([o.draft.zone])),
                );
                const name = `${prefix}/alert-f${String(f.index).padStart(7, '0')}-rule${o.key.replace(':', '.')}.peak.jpg`;
                await ctx.store.upload(ctx.resultsBucket, name, jpeg, 'image/jpeg', { 'lookout-derived': 'annotated' });
                o.draft.annotated = `gs://${ctx.resultsBucket}/${name}`;
                if (zones) o.draft.zonesVersion = zones.version;
              }
            }
            for (const e of step.closed) await emitAlert(e);
            if (step.newPeak) {
              // The frame's most unusual objects explain the alert (an object with a score has at least its strongest part as reason).
              const top = [...scored.objects].filter((o) => o.score > 0).sort((x, y) => y.score - x.score);
              const explained = flagged.length ? flagged.map((x) => x.o) : top.slice(0, 1);
              // The alert's picture marks the objects that explain it (red, with their first reason), whether or not
              // they passed the object threshold in this frame.
              const why = new Set(explained);
              const peakDrawn: Drawn = {
                zones: drawn.zones,
                objects: drawnObjects(
                  scored.objects,
                  (o) => why.has(o),
                  (o) => (o.reasons[0] ?? o.strongest)?.text,
                ),
                title: `alert peak: frame ${f.index}  score ${(frameScore.raw / th).toFixed(2)}x the threshold  ${why.size} unusual`,
              };
              const peak: PeakCandidate = {
                frame: f.index,
                reasons: reasonLines(explained),
                objects: explained.map((o) => ({ label: o.label, x: o.x, y: o.y, w: o.w, h: o.h, score: o.score })),
                image: {
                  frame: f.index,
                  rgb: timeSync('annotate', () => Buffer.from(f.rgb)),
                  width: f.width,
                  height: f.height,
                  drawn: peakDrawn,
                },
              };
              // Inside an open episode it is its peak; before opening (or merging) only a candidate.
              if (step.active) adopt(peak);
              else runPeak = peak;
            }
            if (step.active && runPeak && episodes.current?.peakFrame === runPeak.frame) adopt(runPeak);
            if (!episodes.pending) runPeak = null;
            if (!episodes.current && !episodes.pending) {
              draft = emptyDraft();
              peakImage = null;
            }
            if (step.active)
              for (const { o } of flagged)
                for (const r of o.reasons) draft.attributes[r.attribute] = (draft.attributes[r.attribute] ?? 0) + 1;
            if (frameScore.abnormal) {
              const jpeg = await timeAsync('annotate', () =>
                annotate(
                  { data: f.rgb, width: f.width, height: f.height, format: 'raw' },
                  drawn.objects,
                  drawn.title,
                  'jpeg',
                  drawn.zones,
                ),
              );
              const name = `${prefix}/f${String(f.index).padStart(7, '0')}.annotated.jpg`;
              await ctx.store.upload(ctx.resultsBucket, name, jpeg, 'image/jpeg', { 'lookout-derived': 'annotated' });
              details.annotated = `gs://${ctx.resultsBucket}/${name}`;
            }
            // The clip follows the episode (open frames), not single flagged frames.
            const ruleActive = rstep?.active ?? [];
            const clip = await timeAsync('annotate', () =>
              clips.push(
                { index: f.index, rgb: f.rgb, width: f.width, height: f.height, marks: drawn },
                step.active || ruleActive.length > 0,
              ),
            );
            if (clip) {
              const uri = `gs://${ctx.resultsBucket}/${clip}`;
              details.clip = uri;
              if (step.active) draft.clip ??= uri;
              for (const k of ruleActive) {
                const d = rules!.draft(k);
                if (d) d.clip ??= uri;
              }
            }
            if (step.active) details.alert_start = episodes.current?.start ?? f.index;
            if (episodes.current) episodeStarts.add(episodes.current.start);
            const analysis: FrameAnalysis = {
              frame: f.index,
              label: frameScore.abnormal ? 'abnormal' : scored.objects.length ? 'normal' : 'no-objects',
              score: Math.round(frameScore.raw * 1e6) / 1e6,
              objects,
              details,
              ms: { detect: t1 - t0, extract: 0, score: performance.now() - t1, inference: t1 - t0 },
              model: { name: detector.name, version: detector.version },
              executionProvider: detector.executionProvider,
            };
            await emit(analysis);
            t0 = performance.now();
          }
          await clips.end();
          if (seg.totalFrames !== undefined && seg.segment.end >= seg.totalFrames) {
            // The end of the video: what is open or merging is final.
            for (const e of episodes.finish()) await emitAlert(e);
            for (const c of rules?.finish() ?? []) await emitRuleAlert(c.episode, c.draft);
          } else {
            // The peak frame's pixels do not travel to the next segment: its annotated JPEG is written now.
            await writePeak();
          }
        } catch (err) {
          clips.abort();
          throw err;
        }
        const st = episodes.state();
        if (st.run) episodeStarts.add(st.run.first.frame);
        if (ctx.keepObservations && observed.length) {
          const v = seg.video;
          const header: PendingHeader = {
            id: `${v.bucket}/${v.name}#${v.generation}@${seg.segment.start}`,
            video: { bucket: v.bucket, name: v.name, generation: v.generation },
            pipeline: seg.pipeline ?? 'cctv-anomaly',
            first: observed[0].frame,
            last: observed[observed.length - 1].frame,
            analysedAt: Date.now(),
            episodeStarts: [...episodeStarts].sort((a, b) => a - b),
          };
          // A retried segment writes the same name: one chunk per segment.
          await ctx.store.upload(
            ctx.resultsBucket,
            `${pendingPrefix(scene)}${v.bucket}/${v.name}#${v.generation}/s${String(seg.segment.start).padStart(9, '0')}.jsonl`,
            encodeChunks([{ header, frames: observed }]),
            'application/x-ndjson',
            { 'lookout-derived': 'observations' },
          );
        }
        return {
          state: {
            analyzer: analyzer.state(),
            smoother,
            ...(st.current || st.run ? { episodes: st, alert: draft } : {}),
            ...(rules ? { rules: rules.state() } : {}),
          } satisfies CarriedState,
        };
      },

      async observeSegment(seg, frames, state, key) {
        const analyzer = new SegmentAnalyzer(
          { detector, embedder, pose },
          { fps: seg.fps, embedEvery: embedEvery(seg.fps) },
          (state as CarriedState | undefined)?.analyzer,
        );
        const observed: FrameObservations[] = [];
        for await (const { frame: f, observations } of analyzer.frames(frames)) {
          observed.push(observations);
          ctx.heartbeat({ frame: f.index });
        }
        const name = `observations/${key}.jsonl`;
        await ctx.store.upload(ctx.resultsBucket, name, encodeObservations(observed), 'application/x-ndjson', {
          'lookout-derived': 'observations',
        });
        const ref: FeaturesRef = { bucket: ctx.resultsBucket, name, count: observed.length, dim: 0 };
        return { state: { analyzer: analyzer.state() } satisfies CarriedState, ref };
      },

      async fitScene(scene, refs, opts): Promise<FitResult> {
        const frames: FrameObservations[] = [];
        for (const r of refs) {
          frames.push(
            ...decodeObservations(
              await ctx.store.download({ bucket: r.bucket, name: r.name, generation: '0' }, ctx.maxObjectBytes),
            ),
          );
          ctx.heartbeat({ loaded: frames.length });
        }
        // The fit calibrates on the last part of the footage (held out from fitting): refs come in footage order.
        const objects = frames.reduce((n, f) => n + f.objects.length, 0);
        if (frames.length === 0 || objects < 50)
          throw new BadInputError(
            'UnsupportedMedia',
            `only ${objects} objects in ${frames.length} frames of normal footage: too few to fit a scene`,
          );
        const size = { width: frames[0].width, height: frames[0].height };
        const t0 = Date.now();
        let fitted;
        try {
          fitted = fitAttributeModel(frames, size, {
            seed: opts.seed,
            thresholdQuantile: opts.quantile,
            appearance: { clusters: opts.k },
          });
        } catch (err) {
          throw new SetupError('SceneFitFailed', `fitting scene ${scene}: ${(err as Error).message}`, err);
        }
        // The first fit's footage is the normal set's first chunk: every refit starts from it (online.ts).
        const saved = await scenes.save(scene, serializeAttributeModel(fitted.model), {
          [NORMAL_SET_FILE]: encodeChunks([{ header: { id: 'fit', endS: Date.now() / 1000 }, frames }]),
          [ONLINE_MANIFEST_FILE]: Buffer.from(
            JSON.stringify(
              { kind: 'fit', scene, normalFrames: frames.length, normalObjects: objects, chunks: ['fit'] },
              null,
              2,
            ),
          ),
        });
        return {
          scene,
          version: saved.version,
          uri: saved.uri,
          samples: objects,
          threshold: fitted.model.threshold,
          k: opts.k,
          fitMs: Date.now() - t0,
          report: fitted.report,
        };
      },

      async scenes() {
        return scenes.scenes();
      },

      async refitScene(scene, opts): Promise<RefitResult> {
        const { alerts } = ctx;
        const { list, remove } = ctx.store;
        if (!alerts || !list || !remove)
          throw new SetupError('RefitUnavailable', 'this worker has no alert ledger or object listing: no refit here');
        // LATEST as stored now: the previous refit of this scene may have run on another worker a moment ago.
        const { model, version } = await scenes.load(scene, { fresh: true });
        const normalBuf = await scenes.versionFile(scene, version, NORMAL_SET_FILE);
        if (!normalBuf)
          throw new SetupError(
            'NormalSetMissing',
            `scene ${scene} v${version} has no stored normal set (fitted before learning online, or rolled back to such a version): fit it again with \`lookout fit --scene ${scene} …\``,
          );
        const current: NormalChunk[] = decodeChunks<{ id: string; endS: number }>(normalBuf).map((c) => ({
          id: c.header.id,
          endS: c.header.endS,
          frames: c.frames,
        }));
        ctx.heartbeat({ normalChunks: current.length });
        // The stored chunks of footage analysed since, with the alerts over each (rows and verdicts, per video).
        const files = await list.call(ctx.store, ctx.resultsBucket, pendingPrefix(scene));
        const ledger = new Map<string, Awaited<ReturnType<typeof alerts.ofVideo>>>();
        const nowS = Date.now() / 1000;
        // Chunks are read one at a time and judged at once (drift guard); only the frames of joining chunks that
        // the bounded normal set would keep stay in memory, so a refit after hours of footage holds at most
        // maxFrames of it (plus the current normal set and one chunk).
        const judged: PendingChunk[] = [];
        const joiners: PendingChunk[] = [];
        const nameOf = new Map<string, string>();
        const unusable: string[] = [];
        const refused: string[] = [];
        const droppedEarly: string[] = [];
        const notJoined: Record<string, number> = {};
        let joined = 0;
        let joinedFrames = 0;
        let waiting = 0;
        const aspect = model.frameSize.width / model.frameSize.height;
        for (const f of files) {
          const [c] = decodeChunks<PendingHeader>(
            await ctx.store.download(
              { bucket: ctx.resultsBucket, name: f.name, generation: f.generation },
              ctx.maxObjectBytes,
            ),
          );
          // Footage of another frame shape cannot be this scene's normal (the camera changed): it never joins.
          if (!c || c.frames.length === 0 || Math.abs(c.frames[0].width / c.frames[0].height - aspect) > 0.01) {
            unusable.push(f.name);
            continue;
          }
          const h = c.header;
          const key = `${h.pipeline}:${h.video.bucket}/${h.video.name}#${h.video.generation}`;
          let v = ledger.get(key);
          if (!v) ledger.set(key, (v = await alerts.ofVideo(h.video, h.pipeline)));
          const chunk: PendingChunk = {
            id: h.id,
            endS: h.analysedAt / 1000,
            alerts: alertsOverChunk(h, v),
            frames: c.frames,
          };
          nameOf.set(h.id, f.name);
          const e = eligibility(chunk, nowS, opts);
          if (e !== 'joins') {
            notJoined[e] = (notJoined[e] ?? 0) + c.frames.length;
            if (e === 'confirmed-alert') refused.push(h.id);
            else waiting++;
            judged.push({ ...chunk, frames: [] });
          } else {
            joined++;
            joinedFrames += c.frames.length;
            joiners.push(chunk);
            const keep = new Set(coreset([...current, ...joiners], opts.maxFrames).kept.map((k) => k.id));
            for (const j of [...joiners])
              if (!keep.has(j.id)) {
                joiners.splice(joiners.indexOf(j), 1);
                droppedEarly.push(j.id);
              }
          }
          ctx.heartbeat({ chunks: nameOf.size });
        }
        let out;
        try {
          out = refitNormal(current, [...judged, ...joiners], nowS, opts, model.frameSize, {
            seed: opts.seed,
            thresholdQuantile: model.options.thresholdQuantile,
          });
        } catch (err) {
          throw new SetupError('SceneFitFailed', `refitting scene ${scene}: ${(err as Error).message}`, err);
        }
        if (unusable.length) notJoined['frame-size (chunks)'] = unusable.length;
        const firstFitFrames = current.find((c) => c.id === 'fit')?.frames.length ?? 0;
        const result: RefitResult = {
          scene,
          from: version,
          version: null,
          uri: null,
          joined,
          joinedFrames,
          normalChunks: current.length,
          normalFrames: current.reduce((n, c) => n + c.frames.length, 0),
          normalObjects: current.reduce((n, c) => n + c.frames.reduce((m, f) => m + f.objects.length, 0), 0),
          firstFitFrames,
          maxFrames: opts.maxFrames,
          waiting,
          refused: refused.length + unusable.length,
          notJoined,
          dropped: droppedEarly.length + out.dropped.length,
          threshold: null,
        };
        if (out.normal && out.fitted) {
          const normal = out.normal;
          const normalFrames = normal.reduce((n, c) => n + c.frames.length, 0);
          const normalObjects = normal.reduce((n, c) => n + c.frames.reduce((m, f) => m + f.objects.length, 0), 0);
          const manifest = {
            kind: 'refit',
            scene,
            from: version,
            createdAt: new Date().toISOString(),
            options: opts,
            chunks: normal.map((c) => ({ id: c.id, endS: c.endS, frames: c.frames.length })),
            joined: [...out.joined, ...droppedEarly],
            dropped: [...out.dropped, ...droppedEarly],
            normalFrames,
            normalObjects,
            notJoined,
          };
          const saved = await scenes.save(scene, serializeAttributeModel(out.fitted.model), {
            [NORMAL_SET_FILE]: encodeChunks(
              normal.map((c) => ({ header: { id: c.id, endS: c.endS }, frames: c.frames })),
            ),
            [ONLINE_MANIFEST_FILE]: Buffer.from(JSON.stringify(manifest, null, 2)),
          });
          Object.assign(result, {
            version: saved.version,
            uri: saved.uri,
            normalChunks: normal.length,
            normalFrames,
            normalObjects,
            threshold: out.fitted.model.threshold,
          });
        }
        // Joined chunks live on in the normal set (or were left out by its bound); confirmed and unusable ones never
        // join: their stored observations go. Waiting ones stay for the next refit.
        const gone = [...(out.normal ? out.joined : []), ...droppedEarly, ...refused].map((id) => nameOf.get(id)!);
        for (const name of [...gone, ...unusable]) await remove.call(ctx.store, ctx.resultsBucket, name);
        return result;
      },
    };
  },
};

/**
 * The cctv-attributes method as Lookout serves it: videos in segments of consecutive frames (tracks need
 * them), a row per frame with per-object scores and reasons, annotated JPEGs of flagged frames, and
 * `lookout fit` on normal footage (segments observed on the workers, the model fitted in one activity).
 */
import type { FeaturesRef } from '../../core/types';
import type { SceneFormat } from '../../io/scenes';
import type { FitResult, FrameAnalysis, MethodDefinition, MethodRuntime } from '../method';
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
import { EpisodeTracker, episodeOptionsAt, type Episode, type EpisodeState } from '../../runtime/episodes';
import { timeAsync, timeSync } from '../../runtime/steps';

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

/** Observations of normal footage, stored by reference for fitting: JSON lines, embeddings as base64 float32. */
export function encodeObservations(frames: FrameObservations[]): Buffer {
  return Buffer.from(
    frames
      .map((f) =>
        JSON.stringify({
          ...f,
          objects: f.objects.map((o) => ({
            ...o,
            embedding: o.embedding
              ? Buffer.from(o.embedding.buffer, o.embedding.byteOffset, o.embedding.byteLength).toString('base64')
              : undefined,
          })),
        }),
      )
      .join('\n'),
  );
}

export function decodeObservations(buf: Buffer): FrameObservations[] {
  return buf
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = JSON.parse(line) as FrameObservations & { objects: Array<{ embedding?: string }> };
      return {
        ...f,
        objects: f.objects.map((o) => {
          if (typeof o.embedding !== 'string') return { ...o, embedding: undefined };
          const b = Buffer.from(o.embedding, 'base64');
          const v = new Float32Array(b.length / 4);
          Buffer.from(v.buffer).set(b);
          return { ...o, embedding: v };
        }),
      } as FrameObservations;
    });
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
      'alert rows: the attributes behind the reasons (speed, direction, location, size, dwell, appearance), comma-separated',
    frame: 'frame index in the video',
    time_s: 'frame time in seconds',
    captured_at: 'live streams: when the frame was filmed',
  },
  fit: {
    description:
      'per-region statistics of normal tracks (class, size, speed, direction, dwell) and a coreset kNN bank of appearance features, calibrated cross-fitted on the normal footage (5 time blocks, each scored by a model of the other four)',
    defaults: { k: 8, seed: 7, quantile: 0.97 },
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
    const scenes = ctx.sceneStore(ATTRIBUTES_SCENE_FORMAT);
    const notImages = async (): Promise<never> => {
      throw new BadInputError(
        'UnsupportedMedia',
        "cctv-attributes analyses videos (a camera's consecutive frames), not single images",
      );
    };
    return {
      loadedModels: () => [detector, backbone].map((m) => `${m.name} v${m.version} (${m.executionProvider})`),
      detect: notImages,
      extract: notImages,
      score: notImages,

      async analyzeSegment(seg, frames, state, emit) {
        const scene = seg.scene ?? 'default';
        const { model, version } = await scenes.load(scene);
        const carried = (state ?? {}) as CarriedState;
        const analyzer = new SegmentAnalyzer(
          { detector, embedder },
          { fps: seg.fps, embedEvery: embedEvery(seg.fps) },
          carried.analyzer,
        );
        let smoother = carried.smoother;
        // Alerts as operators count them: one episode per event (runtime/episodes.ts), one row per episode.
        const episodes = new EpisodeTracker(episodeOptionsAt(seg.fps), carried.episodes);
        let draft: AlertDraft = carried.alert ?? emptyDraft();
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
        type Drawn = { objects: Parameters<typeof annotate>[1]; title: string };
        const clips = new AlertClips<Drawn>({
          fps: seg.fps,
          ...alertClipFrames(seg.fps, seg.width, seg.height),
          draw: (c) =>
            annotate(
              { data: c.rgb, width: c.width, height: c.height, format: 'raw' },
              c.marks.objects,
              c.marks.title,
              'rgb',
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
        try {
          let t0 = performance.now();
          // The next frame is decoded and detected while this one is scored and written (analyzer.frames).
          for await (const { frame: f, observations: obs } of analyzer.frames(frames)) {
            const t1 = performance.now();
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
            for (const e of step.closed) await emitAlert(e);
            if (step.newPeak) {
              // The frame's most unusual objects explain the alert (an object with a score has at least its strongest part as reason).
              const top = [...scored.objects].filter((o) => o.score > 0).sort((x, y) => y.score - x.score);
              const explained = flagged.length ? flagged.map((x) => x.o) : top.slice(0, 1);
              // The alert's picture marks the objects that explain it (red, with their first reason), whether or not
              // they passed the object threshold in this frame.
              const why = new Set(explained);
              const peakDrawn: Drawn = {
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
                annotate({ data: f.rgb, width: f.width, height: f.height, format: 'raw' }, drawn.objects, drawn.title),
              );
              const name = `${prefix}/f${String(f.index).padStart(7, '0')}.annotated.jpg`;
              await ctx.store.upload(ctx.resultsBucket, name, jpeg, 'image/jpeg', { 'lookout-derived': 'annotated' });
              details.annotated = `gs://${ctx.resultsBucket}/${name}`;
            }
            // The clip follows the episode (open frames), not single flagged frames.
            const clip = await timeAsync('annotate', () =>
              clips.push({ index: f.index, rgb: f.rgb, width: f.width, height: f.height, marks: drawn }, step.active),
            );
            if (clip) {
              details.clip = `gs://${ctx.resultsBucket}/${clip}`;
              draft.clip ??= details.clip;
            }
            if (step.active) details.alert_start = episodes.current?.start ?? f.index;
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
          } else {
            // The peak frame's pixels do not travel to the next segment: its annotated JPEG is written now.
            await writePeak();
          }
        } catch (err) {
          clips.abort();
          throw err;
        }
        const st = episodes.state();
        return {
          state: {
            analyzer: analyzer.state(),
            smoother,
            ...(st.current || st.run ? { episodes: st, alert: draft } : {}),
          } satisfies CarriedState,
        };
      },

      async observeSegment(seg, frames, state, key) {
        const analyzer = new SegmentAnalyzer(
          { detector, embedder },
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
        const saved = await scenes.save(scene, serializeAttributeModel(fitted.model));
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
    };
  },
};

/**
 * The pose attribute (Reiss & Hoshen 2022's third attribute): body keypoints normalised to the person's box, scored
 * by nearest-neighbour distance to the poses of the scene's normal footage, and limb motion (keypoints moving
 * relative to the box between pose measurements) scored the same way. Two parts of the scene model:
 *
 *  - pose:  the 34-number keypoint layout (x, y per COCO keypoint in box heights from the box centre);
 *  - limbs: the 34-number limb motion (box heights per second, the body's own travel removed).
 *
 * The kNN distance says *how* unusual; a few named descriptors say *what* is unusual, in words an operator reads:
 * arms raised above the head, body horizontal (lying down), legs folded (crouching or sitting), legs or arms moving
 * fast. Each descriptor is compared with its 99th percentile (1st for folded legs) among the scene's normal people.
 */
import { KnnBank } from '../../runtime/knn';
import type { PoseObservation } from './observations';

/** COCO keypoint indices (runtime/pose.ts COCO_KEYPOINTS). */
const K = {
  nose: 0,
  lShoulder: 5,
  rShoulder: 6,
  lWrist: 9,
  rWrist: 10,
  lHip: 11,
  rHip: 12,
  lAnkle: 15,
  rAnkle: 16,
} as const;

/** A keypoint counts for the descriptors from this confidence on. */
export const KEYPOINT_MIN_SCORE = 0.2;
/** A pose is scored only when the mean keypoint confidence is at least this (else the model was guessing). */
export const POSE_MIN_MEAN_SCORE = 0.25;

export interface PoseDescriptors {
  /** Highest wrist above its shoulder, box heights (> 0: above); null without a confident wrist and shoulder. */
  armsRaised: number | null;
  /** Whether a confident wrist is above the nose (an arm raised above the head). */
  aboveHead: number;
  /** Angle of the torso (hips → shoulders) from upright, degrees: 0 standing, 90 lying. */
  torsoTilt: number | null;
  /** Hips-to-ankles extent along the body's axis over torso length: ~1.5-2 standing (or lying), small when crouching or sitting. */
  legFold: number | null;
  /** Fastest ankle relative to the box, box heights per second. */
  legSpeed: number | null;
  /** Fastest wrist relative to the box, box heights per second. */
  armSpeed: number | null;
}

export const DESCRIPTOR_NAMES = ['armsRaised', 'torsoTilt', 'legFold', 'legSpeed', 'armSpeed'] as const;
export type DescriptorName = (typeof DESCRIPTOR_NAMES)[number];

function pt(p: PoseObservation, k: number): { x: number; y: number } | null {
  return p.scores[k] >= KEYPOINT_MIN_SCORE ? { x: p.layout[2 * k], y: p.layout[2 * k + 1] } : null;
}

function mid(a: { x: number; y: number } | null, b: { x: number; y: number } | null) {
  if (a && b) return { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
  return a ?? b;
}

export function meanScore(p: PoseObservation): number {
  return p.scores.reduce((s, x) => s + x, 0) / Math.max(1, p.scores.length);
}

/** Whether the model saw the body well enough for the pose to be scored. */
export function poseUsable(p: PoseObservation | undefined): p is PoseObservation {
  return !!p && p.layout.length === 34 && p.scores.length === 17 && meanScore(p) >= POSE_MIN_MEAN_SCORE;
}

export function poseDescriptors(p: PoseObservation): PoseDescriptors {
  const nose = pt(p, K.nose);
  let armsRaised: number | null = null;
  let aboveHead = 0;
  for (const [w, s] of [
    [K.lWrist, K.lShoulder],
    [K.rWrist, K.rShoulder],
  ] as const) {
    const wp = pt(p, w);
    const sp = pt(p, s);
    if (wp && sp) armsRaised = Math.max(armsRaised ?? -Infinity, sp.y - wp.y);
    if (wp && nose && wp.y < nose.y) aboveHead++;
  }
  const sh = mid(pt(p, K.lShoulder), pt(p, K.rShoulder));
  const hip = mid(pt(p, K.lHip), pt(p, K.rHip));
  const ank = mid(pt(p, K.lAnkle), pt(p, K.rAnkle));
  let torsoTilt: number | null = null;
  let legFold: number | null = null;
  if (sh && hip) {
    const dx = sh.x - hip.x;
    const dy = sh.y - hip.y;
    const torso = Math.hypot(dx, dy);
    if (torso > 0.05) {
      torsoTilt = (Math.atan2(Math.abs(dx), -dy) * 180) / Math.PI;
      // Along the body's own axis (hips → shoulders reversed), so a body lying down keeps its leg length.
      if (ank) legFold = Math.max(0, (-(ank.x - hip.x) * dx - (ank.y - hip.y) * dy) / torso) / torso;
    }
  }
  const speedOf = (ks: number[]) => {
    if (!p.motion) return null;
    let m: number | null = null;
    for (const k of ks)
      if (p.scores[k] >= KEYPOINT_MIN_SCORE) m = Math.max(m ?? 0, Math.hypot(p.motion[2 * k], p.motion[2 * k + 1]));
    return m;
  };
  return {
    armsRaised,
    aboveHead,
    torsoTilt,
    legFold,
    legSpeed: speedOf([K.lAnkle, K.rAnkle]),
    armSpeed: speedOf([K.lWrist, K.rWrist]),
  };
}

/** Normal references of the descriptors: the 99th percentile (legFold: the 1st) among the scene's normal people. */
export type DescriptorRefs = Partial<Record<DescriptorName, number>>;

/**
 * Floors under the references, so a scene whose normal people all walk upright does not call a slight lean
 * unusual: an arm at least a fifth of the body above the shoulder, a torso at least 35° from upright, hips-to-
 * ankles under 0.8 torso lengths, ankles or wrists faster than 1.5 box heights per second relative to the body.
 */
const REF_FLOOR: Record<DescriptorName, number> = {
  armsRaised: 0.2,
  torsoTilt: 35,
  legFold: 0.8,
  legSpeed: 1.5,
  armSpeed: 1.5,
};

export function descriptorRefs(all: PoseDescriptors[]): DescriptorRefs {
  const q = (xs: number[], p: number) => {
    if (xs.length === 0) return NaN;
    const s = [...xs].sort((a, b) => a - b);
    const pos = (s.length - 1) * p;
    const lo = Math.floor(pos);
    return s[lo] + (s[Math.min(s.length - 1, lo + 1)] - s[lo]) * (pos - lo);
  };
  const out: DescriptorRefs = {};
  for (const n of DESCRIPTOR_NAMES) {
    const xs = all.map((d) => d[n]).filter((x): x is number => x !== null && Number.isFinite(x));
    if (xs.length === 0) continue;
    out[n] = n === 'legFold' ? Math.min(q(xs, 0.01), REF_FLOOR.legFold) : Math.max(q(xs, 0.99), REF_FLOOR[n]);
  }
  return out;
}

/** How far each descriptor is beyond its normal reference (> 1: beyond). */
export function descriptorExcess(d: PoseDescriptors, refs: DescriptorRefs): Partial<Record<DescriptorName, number>> {
  const out: Partial<Record<DescriptorName, number>> = {};
  const hi = (n: DescriptorName) => {
    const v = d[n];
    const r = refs[n] ?? REF_FLOOR[n];
    if (v !== null && r > 0) out[n] = v / r;
  };
  hi('armsRaised');
  hi('torsoTilt');
  hi('legSpeed');
  hi('armSpeed');
  if (d.legFold !== null) out.legFold = (refs.legFold ?? REF_FLOOR.legFold) / Math.max(0.05, d.legFold);
  return out;
}

function words(n: DescriptorName, d: PoseDescriptors, refs: DescriptorRefs): string {
  switch (n) {
    case 'armsRaised':
      return d.aboveHead >= 2
        ? 'arms raised above the head'
        : d.aboveHead === 1
          ? 'an arm raised above the head'
          : 'an arm raised above the shoulder';
    case 'torsoTilt':
      return (d.torsoTilt ?? 0) >= 60
        ? `body horizontal (lying down; torso ${Math.round(d.torsoTilt ?? 0)}° from upright)`
        : `body bent over (torso ${Math.round(d.torsoTilt ?? 0)}° from upright, normal under ${Math.round(refs.torsoTilt ?? REF_FLOOR.torsoTilt)}°)`;
    case 'legFold':
      return 'legs folded (crouching or sitting)';
    case 'legSpeed':
      return `legs moving fast (running gait: ankles ${(d.legSpeed ?? 0).toFixed(1)} box heights/s against the body, normal under ${(refs.legSpeed ?? REF_FLOOR.legSpeed).toFixed(1)})`;
    case 'armSpeed':
      return `arms moving fast (waving or flailing: wrists ${(d.armSpeed ?? 0).toFixed(1)} box heights/s against the body, normal under ${(refs.armSpeed ?? REF_FLOOR.armSpeed).toFixed(1)})`;
  }
}

const POSTURE: DescriptorName[] = ['armsRaised', 'torsoTilt', 'legFold'];
const MOTION: DescriptorName[] = ['legSpeed', 'armSpeed'];

/**
 * The reason of a pose or limbs part in words: the descriptor of that kind furthest beyond the scene's normal, or,
 * when none is beyond it, the kNN distance alone.
 */
export function poseReason(part: 'pose' | 'limbs', p: PoseObservation, refs: DescriptorRefs, s: number): string {
  const d = poseDescriptors(p);
  const ex = descriptorExcess(d, refs);
  const best = (part === 'pose' ? POSTURE : MOTION)
    .filter((n) => (ex[n] ?? 0) > 1)
    .sort((a, b) => (ex[b] ?? 0) - (ex[a] ?? 0))[0];
  if (part === 'pose')
    return best
      ? `${words(best, d, refs)} — posture not seen in the normal footage (pose ${s.toFixed(1)}× the usual spread)`
      : `a posture unlike the people of the normal footage (pose ${s.toFixed(1)}× the usual spread)`;
  return best
    ? `${words(best, d, refs)} — limb motion not seen in the normal footage (${s.toFixed(1)}× the usual spread)`
    : `limbs moving unlike anyone in the normal footage (${s.toFixed(1)}× the usual spread)`;
}

/** The scene's normal poses: kNN banks of layouts and of limb motions, and the descriptor references. */
export interface PoseModel {
  posture: KnnBank;
  limbs: KnnBank | null;
  refs: DescriptorRefs;
  /** Poses the banks were built from. */
  n: number;
}

/** Fits the pose model on the normal people's pose measurements (null with fewer than minSamples). */
export function fitPoseModel(
  poses: PoseObservation[],
  opts: { minSamples: number; coresetSize?: number; seed?: number },
): PoseModel | null {
  const ok = poses.filter(poseUsable);
  if (ok.length < opts.minSamples) return null;
  const build = (vs: number[][]) =>
    KnnBank.build(vs, { maxSize: opts.coresetSize ?? 1000, metric: 'l2', seed: opts.seed ?? 0 }).bank;
  const moving = ok.filter((p) => p.motion);
  return {
    posture: build(ok.map((p) => p.layout)),
    limbs: moving.length >= opts.minSamples ? build(moving.map((p) => p.motion!)) : null,
    refs: descriptorRefs(ok.map(poseDescriptors)),
    n: ok.length,
  };
}

/** JSON form (banks as base64 of runtime/knn's bytes) for the scene model's header. */
export interface PoseModelJson {
  posture: string;
  limbs: string | null;
  refs: DescriptorRefs;
  n: number;
}

export function poseModelToJson(m: PoseModel): PoseModelJson {
  return {
    posture: m.posture.serialize().toString('base64'),
    limbs: m.limbs ? m.limbs.serialize().toString('base64') : null,
    refs: m.refs,
    n: m.n,
  };
}

export function poseModelFromJson(j: PoseModelJson, where: string): PoseModel {
  return {
    posture: KnnBank.parse(Buffer.from(j.posture, 'base64'), `${where} (pose bank)`),
    limbs: j.limbs ? KnnBank.parse(Buffer.from(j.limbs, 'base64'), `${where} (limb motion bank)`) : null,
    refs: j.refs,
    n: j.n,
  };
}

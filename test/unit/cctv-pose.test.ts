/**
 * The pose attribute of cctv-attributes on synthetic keypoints: descriptors and reasons in words (pose.ts), the
 * scene model's pose and limbs parts (fit, score, serialise), and the analyzer's pose step (cadence, limb motion,
 * carried state). The real model on real frames: test/unit/pose-model.test.ts.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import {
  cctvAttributesMethod,
  fitAttributeModel,
  parseAttributeModel,
  scoreObservations,
  SegmentAnalyzer,
  serializeAttributeModel,
  type FrameDetector,
  type FrameObservations,
  type ObjectObservation,
} from '../../methods/cctv-attributes';
import type { PoseEstimator } from '../../methods/cctv-attributes/analyzer';
import { poseLayout, type PoseObservation } from '../../methods/cctv-attributes/observations';
import {
  descriptorRefs,
  fitPoseModel,
  poseDescriptors,
  poseReason,
  poseUsable,
} from '../../methods/cctv-attributes/pose';
import { seededRandom } from '../../runtime/knn';
import type { Box } from '../../core/types';

type P = { x: number; y: number };
/** A body in box-height units from the box centre (x right, y down), keypoints in COCO order. */
function body(
  rand: () => number,
  o: {
    wrists?: [P, P];
    tilt?: number;
    ankles?: [P, P];
    jitter?: number;
  } = {},
): P[] {
  const j = o.jitter ?? 0.02;
  const n = () => (rand() - 0.5) * 2 * j;
  // upright: head at -0.42, shoulders -0.3, hips 0, ankles +0.45
  const upright: P[] = [
    { x: 0, y: -0.42 }, // nose
    { x: -0.02, y: -0.44 },
    { x: 0.02, y: -0.44 },
    { x: -0.04, y: -0.43 },
    { x: 0.04, y: -0.43 },
    { x: -0.1, y: -0.3 }, // shoulders
    { x: 0.1, y: -0.3 },
    { x: -0.12, y: -0.15 }, // elbows
    { x: 0.12, y: -0.15 },
    ...(o.wrists ?? [
      { x: -0.12, y: -0.02 },
      { x: 0.12, y: -0.02 },
    ]),
    { x: -0.06, y: 0 }, // hips
    { x: 0.06, y: 0 },
    { x: -0.06, y: 0.22 }, // knees
    { x: 0.06, y: 0.22 },
    ...(o.ankles ?? [
      { x: -0.06, y: 0.45 },
      { x: 0.06, y: 0.45 },
    ]),
  ];
  const t = ((o.tilt ?? 0) * Math.PI) / 180;
  // Rotate about the hips (tilting the whole body), then jitter.
  return upright.map((p) => ({
    x: p.x * Math.cos(t) - p.y * Math.sin(t) + n(),
    y: p.x * Math.sin(t) + p.y * Math.cos(t) + n(),
  }));
}

function poseOf(points: P[], motion: number[] | null = null, score = 0.8): PoseObservation {
  return { layout: points.flatMap((p) => [p.x, p.y]), scores: points.map(() => score), motion, ageS: 0 };
}

/** Walking limb motion: ankles and wrists swing at about ±0.6 box heights per second. */
function walkingMotion(rand: () => number, legs = 0.6, arms = 0.4): number[] {
  const m = new Array<number>(34).fill(0).map(() => (rand() - 0.5) * 0.1);
  const s = rand() < 0.5 ? 1 : -1;
  m[2 * 15] = s * legs * (0.7 + 0.3 * rand());
  m[2 * 16] = -s * legs * (0.7 + 0.3 * rand());
  m[2 * 9] = -s * arms * (0.7 + 0.3 * rand());
  m[2 * 10] = s * arms * (0.7 + 0.3 * rand());
  return m;
}

describe('pose descriptors and reasons', () => {
  const rand = seededRandom(3);
  it('reads standing, arms up, lying and crouching bodies', () => {
    const stand = poseDescriptors(poseOf(body(rand)));
    expect(stand.torsoTilt!).toBeLessThan(10);
    expect(stand.armsRaised!).toBeLessThan(0);
    expect(stand.aboveHead).toBe(0);
    expect(stand.legFold!).toBeGreaterThan(1.2);

    const up = poseDescriptors(
      poseOf(
        body(rand, {
          wrists: [
            { x: -0.14, y: -0.6 },
            { x: 0.14, y: -0.6 },
          ],
        }),
      ),
    );
    expect(up.armsRaised!).toBeGreaterThan(0.25);
    expect(up.aboveHead).toBe(2);

    const lying = poseDescriptors(poseOf(body(rand, { tilt: 85 })));
    expect(lying.torsoTilt!).toBeGreaterThan(75);

    const crouch = poseDescriptors(
      poseOf(
        body(rand, {
          ankles: [
            { x: -0.1, y: 0.08 },
            { x: 0.1, y: 0.08 },
          ],
        }),
      ),
    );
    expect(crouch.legFold!).toBeLessThan(0.4);
  });

  it('limb speeds come from the motion of ankles and wrists; none without motion', () => {
    const m = new Array<number>(34).fill(0);
    m[2 * 15 + 1] = 3; // left ankle 3 box heights/s down
    m[2 * 10] = -1; // right wrist 1 box height/s left
    const d = poseDescriptors(poseOf(body(rand), m));
    expect(d.legSpeed).toBeCloseTo(3, 5);
    expect(d.armSpeed).toBeCloseTo(1, 5);
    expect(poseDescriptors(poseOf(body(rand))).legSpeed).toBeNull();
  });

  it('names what is unusual against the normal references', () => {
    const normal = Array.from({ length: 200 }, () => poseDescriptors(poseOf(body(rand), walkingMotion(rand))));
    const refs = descriptorRefs(normal);
    const armsUp = poseOf(
      body(rand, {
        wrists: [
          { x: -0.14, y: -0.6 },
          { x: 0.14, y: -0.6 },
        ],
      }),
    );
    expect(poseReason('pose', armsUp, refs, 2.5)).toBe(
      'arms raised above the head — posture not seen in the normal footage (pose 2.5× the usual spread)',
    );
    expect(poseReason('pose', poseOf(body(rand, { tilt: 88 })), refs, 3)).toMatch(
      /^body horizontal \(lying down; torso \d+° from upright\) — posture not seen/,
    );
    const crouch = poseOf(
      body(rand, {
        ankles: [
          { x: -0.1, y: 0.05 },
          { x: 0.1, y: 0.05 },
        ],
      }),
    );
    expect(poseReason('pose', crouch, refs, 1.4)).toMatch(/^legs folded \(crouching or sitting\)/);
    const running = poseOf(body(rand), walkingMotion(rand, 3.5, 0.4));
    expect(poseReason('limbs', running, refs, 2)).toMatch(
      /^legs moving fast \(running gait: ankles \d\.\d box heights\/s against the body, normal under \d\.\d\) — limb motion not seen/,
    );
    // Nothing beyond the references: the distance alone, in words.
    expect(poseReason('pose', poseOf(body(rand)), refs, 1.1)).toBe(
      'a posture unlike the people of the normal footage (pose 1.1× the usual spread)',
    );
  });

  it('a pose the model barely saw is not scored', () => {
    expect(poseUsable(poseOf(body(rand)))).toBe(true);
    expect(poseUsable(poseOf(body(rand), null, 0.1))).toBe(false);
    expect(poseUsable(undefined)).toBe(false);
    expect(fitPoseModel([poseOf(body(rand))], { minSamples: 30 })).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// The scene model with pose

const W = 400;
const H = 300;
const FPS = 10;

function person(rand: () => number, id: number, pose: PoseObservation | undefined): ObjectObservation {
  const foot = 180 + rand() * 40;
  const h = 0.25 * foot - 10;
  return {
    label: 'person',
    score: 0.8,
    x: 20 + rand() * 340,
    y: foot - h,
    w: 0.4 * h,
    h,
    trackId: id,
    confirmed: true,
    velocity: { vx: (rand() < 0.5 ? 1 : -1) * h * 0.5, vy: 0 },
    dwellS: rand(),
    trackAgeS: 3,
    ...(pose ? { pose } : {}),
  };
}

function frames(from: number, to: number, seed: number, withPose = true): FrameObservations[] {
  const rand = seededRandom(seed);
  const out: FrameObservations[] = [];
  for (let f = from; f < to; f++) {
    const objects = Array.from({ length: 4 }, (_, k) =>
      person(rand, 10 + 4 * f + k, withPose ? poseOf(body(rand), walkingMotion(rand)) : undefined),
    );
    out.push({ frame: f, timeS: f / FPS, width: W, height: H, objects });
  }
  return out;
}

describe('pose and limbs parts of the scene model', () => {
  const { model, report } = fitAttributeModel(
    frames(0, 400, 1),
    { width: W, height: H },
    { grid: { cols: 8, rows: 6 } },
  );
  const scoreOne = (m: typeof model, o: ObjectObservation) => {
    const f = frames(900, 901, 77)[0];
    f.objects.push(o);
    return scoreObservations(m, [f])[0].objects.at(-1)!;
  };
  const rand = seededRandom(11);

  it('fits the normal poses and calibrates both parts', () => {
    expect(model.pose).not.toBeNull();
    expect(report.pose!.poses).toBe(1600);
    expect(report.pose!.postureBank).toBeLessThanOrEqual(1000);
    expect(model.calibration.pose!.n).toBeGreaterThan(100);
    expect(model.calibration.limbs!.n).toBeGreaterThan(100);
  });

  it('an ordinary walker is not flagged; arms up, lying and running legs are, with the reason in words', () => {
    const walker = scoreOne(model, person(rand, 5000, poseOf(body(rand), walkingMotion(rand))));
    expect(walker.abnormal).toBe(false);
    expect(walker.parts.pose!).toBeLessThan(1);

    const armsUp = scoreOne(
      model,
      person(
        rand,
        5001,
        poseOf(
          body(rand, {
            wrists: [
              { x: -0.14, y: -0.62 },
              { x: 0.14, y: -0.62 },
            ],
          }),
          walkingMotion(rand),
        ),
      ),
    );
    expect(armsUp.abnormal).toBe(true);
    expect(armsUp.reasons.find((r) => r.attribute === 'pose')?.text).toMatch(/^arms raised above the head — posture/);

    const lying = scoreOne(model, person(rand, 5002, poseOf(body(rand, { tilt: 90 }), walkingMotion(rand))));
    expect(lying.abnormal).toBe(true);
    expect(lying.reasons.find((r) => r.attribute === 'pose')?.text).toMatch(/^body horizontal \(lying down/);

    const runner = scoreOne(model, person(rand, 5003, poseOf(body(rand), walkingMotion(rand, 4, 1.2))));
    expect(runner.abnormal).toBe(true);
    expect(runner.reasons.find((r) => r.attribute === 'limbs')?.text).toMatch(/^legs moving fast \(running gait/);
  });

  it('the pose banks survive serialisation', () => {
    const back = parseAttributeModel(serializeAttributeModel(model));
    const o = person(rand, 6000, poseOf(body(rand, { tilt: 80 }), walkingMotion(rand)));
    const a = scoreOne(model, o);
    const b = scoreOne(back, o);
    expect(b.parts.pose).toBeCloseTo(a.parts.pose!, 6);
    expect(b.parts.limbs).toBeCloseTo(a.parts.limbs!, 6);
    expect(b.reasons.map((r) => r.text)).toEqual(a.reasons.map((r) => r.text));
  });

  it('without the pose step nothing changes: no pose model, no pose parts', () => {
    const { model: plain } = fitAttributeModel(
      frames(0, 400, 1, false),
      { width: W, height: H },
      { grid: { cols: 8, rows: 6 } },
    );
    expect(plain.pose).toBeNull();
    expect(plain.calibration.pose).toBeUndefined();
    // A model fitted with poses scores an object without one on the other parts only.
    const noPose = scoreOne(model, person(rand, 7000, undefined));
    expect(noPose.parts.pose).toBeUndefined();
    expect(noPose.parts.speed).toBeDefined();
  });
});

// ---------------------------------------------------------------------------------------------
// The analyzer's pose step

describe('SegmentAnalyzer pose step', () => {
  /** One person walking right at 2 px a frame, 100 px tall; a small one (30 px) that gets no pose. */
  const detector: FrameDetector = {
    async detect(img) {
      const f = (img as unknown as { data: Buffer }).data[0];
      const boxes: Box[] = [
        { classId: 0, label: 'person', score: 0.9, x: 50 + 2 * f, y: 100, w: 40, h: 100 },
        { classId: 0, label: 'person', score: 0.8, x: 300, y: 50, w: 12, h: 30 },
      ];
      return { boxes };
    },
  };
  const calls: number[][] = [];
  /** Wrist swings with the frame index; everything else fixed relative to the box. */
  const pose: PoseEstimator = {
    async estimate(frame, boxes) {
      const f = frame.rgb[0];
      calls.push([f, boxes.length]);
      return boxes.map((b) =>
        Array.from({ length: 17 }, (_, k) => ({
          x: b.x + b.w / 2 + (k === 9 ? 0.01 * f * b.h : 0),
          y: b.y + (k / 16) * b.h,
          score: 0.9,
        })),
      );
    },
  };
  const frame = (i: number) => ({ index: i, rgb: Buffer.alloc(320 * 240 * 3, i), width: 320, height: 240 });

  it('measures people at the cadence, carries the pose in between, and computes limb motion per second', async () => {
    calls.length = 0;
    const an = new SegmentAnalyzer({ detector, pose }, { fps: 10, poseEvery: 5 });
    const out: FrameObservations[] = [];
    for (let i = 1; i <= 12; i++) out.push(await an.analyzeFrame(frame(i)));
    // Frame 1: the track is new; then frames 5 and 10. The 30 px person never.
    expect(calls).toEqual([
      [1, 1],
      [5, 1],
      [10, 1],
    ]);
    expect(out[0].objects[1].pose).toBeUndefined();
    const p1 = out[0].objects[0].pose!;
    expect(p1.motion).toBeNull();
    expect(p1.ageS).toBe(0);
    // Layout in box heights from the box centre: the nose (k = 0) at the top of the box.
    expect(p1.layout[1]).toBeCloseTo(-0.5, 6);
    expect(out[2].objects[0].pose!.ageS).toBeCloseTo(0.2, 9); // frame 3 carries frame 1's measurement
    const p5 = out[4].objects[0].pose!;
    // Left wrist moved 0.01 box heights per frame relative to the box: 4 frames in 0.4 s = 0.1 box heights/s.
    expect(p5.motion![2 * 9]).toBeCloseTo(0.1, 6);
    expect(p5.motion![2 * 15]).toBeCloseTo(0, 6);

    // The next segment continues from the state: no new measurement before frame 15.
    calls.length = 0;
    const next = new SegmentAnalyzer({ detector, pose }, { fps: 10, poseEvery: 5 }, an.state());
    const f13 = await next.analyzeFrame(frame(13));
    expect(calls).toEqual([]);
    expect(f13.objects[0].pose!.ageS).toBeCloseTo(0.3, 9);
  });

  it('box-relative layout', () => {
    expect(poseLayout({ x: 10, y: 20, w: 20, h: 40 }, [{ x: 20, y: 20 }])).toEqual([0, -0.5]);
  });
});

// ---------------------------------------------------------------------------------------------
// The switch: the method loads the pose model only when asked

describe('cctv-attributes pose switch', () => {
  const fakeModel = (name: string) => ({ name, version: 1, executionProvider: 'cpu' });
  const ctx = (pose: boolean | undefined, withPoseLoader = true) =>
    ({
      models: {
        detector: async () => fakeModel('nanodet'),
        embedder: async () => ({
          ...fakeModel('mobilenetv2'),
          channels: 3,
          inputWidth: 224,
          inputHeight: 224,
          manifest: {
            preprocessing: {
              width: 224,
              height: 224,
              channels: 'RGB',
              scale: 1 / 255,
              mean: [0, 0, 0],
              std: [1, 1, 1],
            },
          },
        }),
        ...(withPoseLoader ? { pose: async (name: string) => fakeModel(name) } : {}),
      },
      sceneStore: () => ({}),
      pose,
    }) as unknown as Parameters<typeof cctvAttributesMethod.load>[0];

  it('is off by default and loads movenet when switched on', async () => {
    expect((await cctvAttributesMethod.load(ctx(undefined))).loadedModels()).toEqual([
      'nanodet v1 (cpu)',
      'mobilenetv2 v1 (cpu)',
    ]);
    expect((await cctvAttributesMethod.load(ctx(true))).loadedModels()).toEqual([
      'nanodet v1 (cpu)',
      'mobilenetv2 v1 (cpu)',
      'movenet v1 (cpu)',
    ]);
  });

  it('refuses to start with the pose step on and no pose model loader', async () => {
    await expect(cctvAttributesMethod.load(ctx(true, false))).rejects.toThrow(/pose step is switched on/);
  });
});

// ---------------------------------------------------------------------------------------------
// The on/off measurement script refuses what it must not read

describe('bench/pose-cctv-attributes.ts', () => {
  const ROOT = path.resolve(__dirname, '../..');
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['-r', 'tsx/cjs', path.join(ROOT, 'bench', 'pose-cctv-attributes.ts'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
    });

  it('documents itself, needs a dump, and refuses a test-split dump or one without poses (exit 2)', () => {
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--pose --dump-obs OBS\.v8 \(test dumps are refused\)/);
    expect(run().status).toBe(2);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pose-bench-'));
    try {
      const base = {
        ranges: { seed: 1, fit: [0, 9], cal: [10, 19], test: [20, 29] },
        frameSize: {},
        clean: {},
        clips: [],
      };
      const testDump = path.join(dir, 'test.v8');
      fs.writeFileSync(testDump, v8.serialize({ ...base, split: 'test', pose: { model: 'movenet v1' } }));
      const t = run(testDump, '--out', dir);
      expect(t.status).toBe(2);
      expect(t.stderr).toMatch(/a test-split dump; the pose attribute is measured on the tuning splits only/);
      const noPose = path.join(dir, 'validation.v8');
      fs.writeFileSync(noPose, v8.serialize({ ...base, split: 'validation', pose: null }));
      const n = run(noPose, '--out', dir);
      expect(n.status).toBe(2);
      expect(n.stderr).toMatch(/no pose step in this dump/);
      expect(fs.existsSync(path.join(dir, 'pose.json'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

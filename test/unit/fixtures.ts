import { resolvePipeline } from '../../core/pipelines';
import type { AnalysisSummary, StageReport } from '../../core/types';

export function report(
  stage: StageReport['stage'],
  scheduledAt: number,
  startedAt: number,
  completedAt: number,
  extra: Partial<StageReport> = {},
): StageReport {
  return {
    stage,
    pool: 'cpu',
    taskQueue: 'objects-cpu',
    host: 'h',
    attempt: 1,
    scheduledAt,
    startedAt,
    completedAt,
    inferenceMs: 0,
    ...extra,
  };
}

export function summary(over: Partial<AnalysisSummary> = {}): AnalysisSummary {
  const t = Date.parse('2026-11-23T10:00:00.000Z');
  return {
    input: {
      pipeline: resolvePipeline('objects', { gpuStages: [], gpuFallbackMs: 1000 }),
      object: {
        bucket: 'b-1',
        name: 'x.jpg',
        generation: '7',
        size: 100,
        contentType: 'image/jpeg',
        timeCreated: new Date(t).toISOString(),
      },
      trace: {
        source: 'watcher',
        publishedAt: new Date(t + 100).toISOString(),
        dispatchedAt: new Date(t + 150).toISOString(),
      },
      runTag: 'run-1',
    },
    workflowId: 'objects:b-1/x.jpg#7',
    runId: 'r-1',
    workflowStartedAt: t + 200,
    detect: {
      report: report('detect', t + 210, t + 220, t + 320, {
        inferenceMs: 80,
        batchSize: 2,
        executionProvider: 'cpu',
        model: { name: 'nanodet', version: 1 },
      }),
      machine: {
        host: 'h',
        cores: 2,
        memoryTotalMb: 1000,
        memoryFreeMb: 500,
        platform: 'linux-x64',
        osRelease: '6',
        cpuModel: 'cpu',
        nodeVersion: 'v20',
        onnxruntimeVersion: '1.23',
      },
      width: 64,
      height: 48,
      format: 'jpeg',
      boxes: [{ classId: 0, label: 'person', score: 0.9, x: 1, y: 2, w: 3, h: 4 }],
    },
    extract: {
      report: report('extract', t + 330, t + 335, t + 340),
      featureNames: ['a'],
      features: [{ box: 0, vector: [1] }],
    },
    score: {
      report: report('score', t + 345, t + 350, t + 355),
      label: 'person',
      score: 0.9,
      objects: [{ classId: 0, label: 'person', score: 0.9, x: 1, y: 2, w: 3, h: 4 }],
    },
    ...over,
  };
}

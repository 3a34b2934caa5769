import { describe, expect, it } from 'vitest';
import { alertView, filterAlerts, type AlertRow } from '../../io/review';

const row = (over: Omit<Partial<AlertRow>, 'details'> & { details: Record<string, unknown> }): AlertRow => ({
  analysis_id: 'a',
  workflow_id: `w-${Math.random()}`,
  pipeline: 'cctv-anomaly',
  run_tag: null,
  bucket: 'b',
  name: 'cams/cam1.avi',
  generation: '1',
  label: 'alert',
  score: 1,
  objects: [],
  width: 384,
  height: 576,
  recorded_at: '2026-12-07T00:00:00Z',
  ...over,
  details: JSON.stringify(over.details),
});

describe('review alerts: episode rows as the alerts page lists and filters them', () => {
  const a = alertView(
    row({
      details: {
        scene: 'left',
        reasons: 'person #4: speed 3.1× the 99th percentile | car #2: class car never seen in this area',
        attributes: 'speed,location',
      },
    }),
    null,
  );
  const b = alertView(
    row({
      name: 'cams/cam2.avi',
      details: { scene: 'right', stream: 'gate-cam', reasons: 'person #9: stayed 14 s in place', attributes: 'dwell' },
    }),
    'dismissed',
  );
  const c = alertView(
    row({
      details: {
        scene: 'left',
        reasons: 'person #1: looks unlike anything in the normal footage',
        attributes: 'appearance',
      },
    }),
    'confirmed',
  );

  it('reads scene, camera (stream, else the video), reasons and attributes from the row', () => {
    expect(a).toMatchObject({
      scene: 'left',
      camera: 'cams/cam1.avi',
      attributes: ['speed', 'location'],
      verdict: null,
    });
    expect(a.reasons).toEqual([
      'person #4: speed 3.1× the 99th percentile',
      'car #2: class car never seen in this area',
    ]);
    expect(b.camera).toBe('gate-cam');
  });

  it('filters by scene, camera, reason (attribute or words) and verdict, all together', () => {
    const all = [a, b, c];
    expect(filterAlerts(all, { scene: 'left' })).toEqual([a, c]);
    expect(filterAlerts(all, { camera: 'gate-cam' })).toEqual([b]);
    expect(filterAlerts(all, { reason: 'dwell' })).toEqual([b]);
    expect(filterAlerts(all, { reason: 'never seen' })).toEqual([a]);
    expect(filterAlerts(all, { verdict: 'none' })).toEqual([a]);
    expect(filterAlerts(all, { verdict: 'confirmed', scene: 'left' })).toEqual([c]);
    expect(filterAlerts(all, { verdict: 'dismissed', scene: 'left' })).toEqual([]);
    expect(filterAlerts(all, { scene: ' ', reason: '' })).toEqual(all);
  });
});

/** The review UI's pure parts: verdict rows, clips around dismissed alerts, the write token, upload metadata. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { feedbackRow, InvalidFeedbackError } from '../../io/feedback';
import { clipWindows } from '../../cli/scene';
import { authorized, isLoopback, LIBS } from '../../ui/server';
import { uploadMetadata } from '../../io/uploads';
import { loadConfig } from '../../config';

describe('feedback rows', () => {
  it('keeps the alert it judges and the verdict; refuses an unknown verdict or a missing id', () => {
    const r = feedbackRow(
      { analysisId: 'a/r', workflowId: 'a', verdict: 'dismissed', scene: 's', frame: 12, note: 'x'.repeat(3000) },
      Date.parse('2026-12-01T00:00:00Z'),
    );
    expect(r).toMatchObject({
      analysis_id: 'a/r',
      workflow_id: 'a',
      verdict: 'dismissed',
      scene: 's',
      frame: 12,
      recorded_at: '2026-12-01T00:00:00.000Z',
    });
    expect(r.note).toHaveLength(2000);
    expect(r.feedback_id).not.toBe(
      feedbackRow({ analysisId: 'a/r', workflowId: 'a', verdict: 'dismissed' }, 0).feedback_id,
    );
    expect(() => feedbackRow({ analysisId: 'a/r', workflowId: 'a', verdict: 'maybe' }, 0)).toThrow(
      InvalidFeedbackError,
    );
    expect(() => feedbackRow({ analysisId: '', workflowId: 'a', verdict: 'confirmed' }, 0)).toThrow(/analysis_id/);
  });
});

describe('clips around dismissed alerts (lookout fit --with-dismissed)', () => {
  it('cuts each frame ± half, clamped at 0, merging overlapping ranges', () => {
    expect(clipWindows([100], 25)).toEqual([[75, 126]]);
    expect(clipWindows([10], 25)).toEqual([[0, 36]]);
    expect(clipWindows([300, 100, 120, 100], 25)).toEqual([
      [75, 146],
      [275, 326],
    ]);
    expect(clipWindows([-1, 1.5], 25)).toEqual([]);
    // An alert episode's span: the whole episode, widened on both sides, merged with a nearby frame's window.
    expect(clipWindows([[100, 160], 200], 25)).toEqual([[75, 226]]);
    expect(clipWindows([[50, 40]], 25)).toEqual([]);
  });
});

describe('lookout ui write authentication', () => {
  it('open without a token; with one, only the exact bearer token passes', () => {
    expect(authorized(undefined, undefined)).toBe(true);
    expect(authorized(undefined, 'tok')).toBe(false);
    expect(authorized('Bearer tok', 'tok')).toBe(true);
    expect(authorized('bearer  tok ', 'tok')).toBe(true);
    expect(authorized('Bearer tok2', 'tok')).toBe(false);
    expect(authorized('Basic tok', 'tok')).toBe(false);
  });

  it('knows loopback addresses', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '10.0.0.5', '::'].some(isLoopback)).toBe(false);
  });

  it('reads its port, host and token from the environment', () => {
    const cfg = loadConfig({ LOOKOUT_PORT_BASE: '30000' });
    expect(cfg.ui).toEqual({ port: 30042, host: '127.0.0.1', token: undefined });
    expect(loadConfig({ LOOKOUT_UI_PORT: '8080', LOOKOUT_UI_HOST: '0.0.0.0', LOOKOUT_UI_TOKEN: 't' }).ui).toEqual({
      port: 8080,
      host: '0.0.0.0',
      token: 't',
    });
  });
});

describe('lookout ui assets', () => {
  it('every library the page loads is in node_modules (no CDN)', () => {
    for (const rel of Object.values(LIBS))
      expect(fs.existsSync(path.join(__dirname, '..', '..', 'node_modules', rel)), rel).toBe(true);
    const html = fs.readFileSync(path.join(__dirname, '..', '..', 'ui', 'public', 'index.html'), 'utf8');
    expect(html).not.toMatch(/https?:\/\//);
  });
});

describe('upload metadata', () => {
  it('is what lookout upload writes', () => {
    expect(uploadMetadata({ run: 'r', pipeline: 'objects', scene: 's', every: 5 })).toEqual({
      'lookout-run': 'r',
      'lookout-pipeline': 'objects',
      'lookout-scene': 's',
      'lookout-video-every': '5',
    });
    expect(uploadMetadata({ run: 'r' })).toEqual({ 'lookout-run': 'r' });
  });
});

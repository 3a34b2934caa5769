/** Pipelines and the method registry. */
import { describe, expect, it } from 'vitest';
import { SetupError } from '../../core/errors';
import { PIPELINES, resolvePipeline } from '../../core/pipelines';
import { checkRegistry, METHODS, methodOfPipeline, modelsForPipelines } from '../../methods/registry';

const opts = { gpuStages: [], gpuFallbackMs: 1000 };

describe('pipelines', () => {
  it('every pipeline names a registered method, and every method declares what it needs', () => {
    expect(() => checkRegistry()).not.toThrow();
    for (const m of METHODS.values()) {
      expect(Object.keys(m.models).length).toBeGreaterThan(0);
      expect(Boolean(m.accepts.images || m.accepts.videos || m.accepts.triplets || m.accepts.rasters)).toBe(true);
      expect(Object.keys(m.rowFields).length).toBeGreaterThan(0);
    }
  });

  it('the seed CCTV method stays available under its own name, and cctv-anomaly is the default CCTV pipeline', () => {
    expect(resolvePipeline('cctv-ocae', opts).method).toBe('cctv-ocae');
    expect(PIPELINES.get('cctv-anomaly')?.method).toBe(methodOfPipeline('cctv-anomaly').name);
    expect(modelsForPipelines(['objects'])).toEqual(['nanodet']);
  });

  it('a name from object metadata that is a property of every JS object is an unknown pipeline', () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'nope']) {
      const err = (() => {
        try {
          resolvePipeline(name, opts);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(SetupError);
      expect((err as SetupError).errorClass).toBe('UnknownPipeline');
      expect(() => methodOfPipeline(name)).toThrow(SetupError);
    }
  });
});

/**
 * Pairing by place and time (docs/stac.md), the decision once an acquisition's summary row is written: which
 * change analyses its arrival completes. Pure over an AcquisitionIndex (the archive's rows), so that every order
 * of arrival can be simulated in a unit test.
 *
 * - Its own change against its previous acquisition, when it was planned against another (or none) because the
 *   previous one was not in the rows yet.
 * - The next acquisition's change against it, when the next one arrived first and holds no rows against it.
 * Each is skipped when a summary row of that pair exists already; the workflow ID (pairWorkflowId) makes a pair that
 * two arrivals ask for at once run once.
 */
import { pairWorkflowId } from '../../core/events';
import type { AcquisitionIndex, AcquisitionRecord, ObjectRef, RasterPlan, RasterRepair } from '../../core/types';

const ref = (x: AcquisitionRecord): ObjectRef => ({
  bucket: x.bucket,
  name: x.name,
  generation: x.generation,
  size: 0,
  timeCreated: x.datetime,
});

export async function acquisitionRepairs(
  index: AcquisitionIndex,
  input: { pipeline: { name: string }; object: ObjectRef; runTag?: string },
  plan: Pick<RasterPlan, 'acquisition' | 'footprint' | 'before'>,
  heartbeat: (details?: unknown) => void = () => {},
): Promise<RasterRepair[]> {
  const a = plan.acquisition;
  const f = plan.footprint;
  if (!a?.datetime || !f) return [];
  const o = input.object;
  const me: ObjectRef = {
    bucket: o.bucket,
    name: o.name,
    generation: o.generation,
    size: o.size,
    timeCreated: o.timeCreated,
  };
  const { previous, next } = await index.neighbours({
    bucket: o.bucket,
    name: o.name,
    datetime: a.datetime,
    place: a.place,
    collection: a.collection,
    footprint: f,
  });
  heartbeat({ pairing: 'neighbours' });
  const out: RasterRepair[] = [];
  if (
    previous &&
    !(previous.bucket === plan.before?.bucket && previous.name === plan.before?.name) &&
    !(await index.paired(me, previous.name))
  ) {
    out.push({
      after: me,
      before: ref(previous),
      runTag: input.runTag ?? null,
      workflowId: pairWorkflowId(input.pipeline.name, me, ref(previous)),
    });
  }
  heartbeat({ pairing: 'previous' });
  if (next && !(await index.paired(next, o.name))) {
    out.push({
      after: ref(next),
      before: me,
      runTag: next.runTag,
      workflowId: pairWorkflowId(input.pipeline.name, next, me),
    });
  }
  return out;
}

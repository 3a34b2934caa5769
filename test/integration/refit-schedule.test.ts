/**
 * `lookout refit --all --schedule EVERY` on the real Temporal server: a schedule that starts the refitScenes
 * workflow every EVERY, with the refit's input; `--unschedule` deletes it (exit 0), and again finds none (exit 1).
 */
import { describe, expect, it, vi } from 'vitest';
import { refitCommand } from '../../cli/commands/refit';
import { refitScheduleId } from '../../io/starter';
import { cfg, withTemporal } from './helpers';

async function refit(opts: Record<string, unknown>): Promise<{ code: number | void; printed: unknown }> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    const code = await refitCommand.run(cfg, {
      opts: { pipeline: 'cctv-anomaly', seed: 7, json: true, all: true, ...opts },
      positionals: [],
    } as unknown as Parameters<typeof refitCommand.run>[1]);
    return { code, printed: JSON.parse(String(log.mock.calls[0]?.[0] ?? 'null')) };
  } finally {
    log.mockRestore();
  }
}

describe('lookout refit --schedule', () => {
  it('creates a Temporal schedule of refitScenes for all scenes, which --unschedule deletes', async () => {
    const id = refitScheduleId('cctv-anomaly', []);
    const made = await refit({ schedule: '6h', 'min-age-s': 3600 });
    expect(made).toEqual({ code: 0, printed: { scheduleId: id, every: '6h' } });
    const d = await withTemporal((c) => c.schedule.getHandle(id).describe());
    expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'refitScenes' });
    expect((d.action as { args: Array<{ scenes: string[]; minAgeS: number }> }).args[0]).toMatchObject({
      scenes: [],
      minAgeS: 3600,
      maxFrames: cfg.refit.maxFrames,
    });
    expect(d.spec.intervals?.[0].every).toBe(6 * 3600 * 1000);
    expect(await refit({ unschedule: true })).toEqual({ code: 0, printed: { unscheduled: true } });
    expect(await refit({ unschedule: true })).toEqual({ code: 1, printed: { unscheduled: false } });
  }, 120_000);
});

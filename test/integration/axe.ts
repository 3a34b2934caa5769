/** axe-core in a page of the review UI: the accessibility check every browser test of the UI runs. */
import type { Page } from 'playwright-core';

const AXE = require.resolve('axe-core/axe.min.js');

interface AxeResult {
  violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }>;
}

/** The serious and critical violations on the page as it is now (rule id, impact and first target). */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const v = await page.evaluate(async () => {
    const r = await (window as unknown as { axe: { run(ctx: Document, o: object): Promise<AxeResult> } }).axe.run(
      document,
      { resultTypes: ['violations'] },
    );
    return r.violations.map((x) => ({ id: x.id, impact: x.impact, target: x.nodes[0]?.target.join(' ') }));
  });
  return v
    .filter((x) => x.impact === 'serious' || x.impact === 'critical')
    .map((x) => `${x.id} (${x.impact}) at ${x.target}`);
}

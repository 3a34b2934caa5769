/**
 * The fit report as a person reads it: `describeFitReport` (what `lookout fit` prints and writes) and its
 * figure, the appearance bank in two dimensions (PCA), one colour per class group, written as SVG and
 * rendered to PNG with sharp (already a dependency for image work; no charting library needed for one
 * scatter plot).
 */
import sharp from 'sharp';
import type { FitReport } from './model';

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** SVG scatter of report.appearance.embedding2d; null when the model has no appearance bank. */
export function embeddingPlotSvg(report: FitReport, title = 'Appearance bank (PCA of normal objects)'): string | null {
  const a = report.appearance;
  if (!a || a.embedding2d.points.length === 0) return null;
  const W = 720;
  const H = 560;
  const m = { l: 50, r: 170, t: 50, b: 50 };
  const pts = a.embedding2d.points;
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const X = (v: number) => m.l + ((v - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const Y = (v: number) => H - m.b - ((v - y0) / (y1 - y0 || 1)) * (H - m.t - m.b);
  const groups = [...new Set(a.embedding2d.groups)].sort();
  const colour = (g: string) => COLOURS[groups.indexOf(g) % COLOURS.length];
  const ev = a.embedding2d.explainedVariance.map((v) => (100 * v) / (a.embedding2d.totalVariance || 1));
  const parts: string[] = [`<rect width="${W}" height="${H}" fill="white"/>`];
  parts.push(
    `<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#333"/>`,
  );
  pts.forEach((p, i) =>
    parts.push(
      `<circle cx="${X(p[0]).toFixed(1)}" cy="${Y(p[1]).toFixed(1)}" r="2.5" fill="${colour(a.embedding2d.groups[i])}" fill-opacity="0.6"/>`,
    ),
  );
  parts.push(`<text x="${m.l}" y="24" font-family="sans-serif" font-size="15">${esc(title)}</text>`);
  parts.push(
    `<text x="${m.l}" y="42" font-family="sans-serif" font-size="12" fill="#444">bank ${a.bankSize} of ${a.sourceVectors} vectors (dim ${a.dim}); ${a.clusters.k} k-means clusters: H(class | cluster) ${a.clusters.conditionalEntropyBits.toFixed(2)} bits of H(class) ${a.clusters.classEntropyBits.toFixed(2)}</text>`,
  );
  parts.push(
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 15}" font-family="sans-serif" font-size="12" text-anchor="middle">PC 1 (${ev[0]?.toFixed(1) ?? '?'} % of variance)</text>`,
  );
  parts.push(
    `<text x="16" y="${(m.t + H - m.b) / 2}" font-family="sans-serif" font-size="12" text-anchor="middle" transform="rotate(-90 16 ${(m.t + H - m.b) / 2})">PC 2 (${ev[1]?.toFixed(1) ?? '?'} %)</text>`,
  );
  groups.forEach((g, i) => {
    const n = a.embedding2d.groups.filter((x) => x === g).length;
    parts.push(`<circle cx="${W - m.r + 20}" cy="${m.t + 10 + i * 20}" r="5" fill="${colour(g)}"/>`);
    parts.push(
      `<text x="${W - m.r + 30}" y="${m.t + 14 + i * 20}" font-family="sans-serif" font-size="12">${esc(g)} (${n})</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${parts.join('')}</svg>`;
}

/** PNG bytes of embeddingPlotSvg; null when there is no appearance bank. */
export async function embeddingPlotPng(report: FitReport, title?: string): Promise<Buffer | null> {
  const svg = embeddingPlotSvg(report, title);
  return svg === null ? null : sharp(Buffer.from(svg)).png().toBuffer();
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/**
 * What `lookout fit` shows of a fitted scene: the footage and objects it learned from, the appearance bank and
 * its clusters (sizes, conditional entropy of the clusters against the object class), the threshold and how
 * many held-out normal frames it flags; and the bank's 2-D embedding as `embedding.png`.
 */
export async function describeFitReport(
  report: FitReport,
): Promise<{ lines: string[]; files: Record<string, Buffer> }> {
  const groups = Object.entries(report.objectsPerGroup)
    .map(([g, n]) => `${g} ${n}`)
    .join(', ');
  const lines = [
    `normal footage: ${report.fitFrames} frames fitted, ${report.calibrationFrames} scored held out for calibration`,
    `objects: ${report.fitObjects} (${groups || 'none'}); ${report.tracks} tracks, ${report.withVelocity} objects with a velocity`,
  ];
  const a = report.appearance;
  if (a) {
    lines.push(
      `appearance bank: ${a.bankSize} of ${a.sourceVectors} vectors (coreset, dim ${a.dim}); ${a.clusters.k} k-means clusters of sizes ${a.clusters.sizes.join(', ')}; ` +
        `H(class | cluster) ${a.clusters.conditionalEntropyBits.toFixed(2)} of H(class) ${a.clusters.classEntropyBits.toFixed(2)} bits`,
    );
  } else lines.push('appearance bank: none (no appearance features in the footage)');
  lines.push(
    `threshold ${report.threshold.toFixed(4)}: ${pct(report.calibrationFramesFlagged)} of the held-out normal frames above it`,
  );
  const png = await embeddingPlotPng(report);
  return { lines, files: png ? { 'embedding.png': png } : {} };
}

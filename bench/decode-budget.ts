/**
 * Peak memory of concurrent decodes with and without the pixel budget.
 *
 *   node -r tsx/cjs bench/decode-budget.ts [--images 12] [--megapixels 100] [--budgets none,200,100]
 *
 * Writes one PNG of the given size (10,000 x 10,000 for 100 MP; one flat colour, so the file is small:
 * the decoder still fills the whole raster), then for each budget (megapixels; "none" = unbounded) runs a
 * fresh child process that decodes the image `--images` times at once with decodeImage and reports its
 * peak RSS (VmHWM from /proc/self/status) and wall time. Each decoded raster is dropped once checked, as
 * a worker does after detection, so the peak is the decoders' memory.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../media/image';
import { PixelBudget } from '../media/pixel-budget';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

async function child(file: string, images: number, budgetMp: string): Promise<void> {
  const buf = fs.readFileSync(file);
  const budget = budgetMp === 'none' ? undefined : new PixelBudget(Number(budgetMp) * 1e6);
  const t0 = performance.now();
  const sums = await Promise.all(
    Array.from({ length: images }, async () => {
      const img = await decodeImage(buf, { maxPixels: 2e9, pixelBudget: budget });
      return img.data[0] + img.data[img.data.length - 1];
    }),
  );
  console.log(
    JSON.stringify({
      budgetMp,
      images,
      peakRssMb: peakRssMb(),
      seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
      peakBudgetMp: budget ? budget.peak / 1e6 : null,
      checksum: sums[0],
    }),
  );
}

async function main(): Promise<void> {
  if (process.argv.includes('--child'))
    return child(arg('file', ''), Number(arg('images', '12')), arg('budget', 'none'));
  const images = Number(arg('images', '12'));
  const mp = Number(arg('megapixels', '100'));
  const side = Math.round(Math.sqrt(mp * 1e6));
  const dir = path.resolve(__dirname, '..', '.lookout', 'decode-budget');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${side}x${side}.png`);
  if (!fs.existsSync(file)) {
    await sharp({
      create: { width: side, height: side, channels: 3, background: { r: 120, g: 80, b: 40 } },
      limitInputPixels: false,
    })
      .png()
      .toFile(file);
  }
  console.log(
    `# ${images} concurrent decodes of a ${side}x${side} PNG (${(fs.statSync(file).size / 1024).toFixed(0)} KiB); ${os.cpus()[0]?.model} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips})`,
  );
  for (const b of arg('budgets', 'none,200,100').split(',')) {
    const out = execFileSync(
      process.execPath,
      ['-r', 'tsx/cjs', __filename, '--child', '--file', file, '--images', String(images), '--budget', b],
      { encoding: 'utf8' },
    );
    process.stdout.write(out);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

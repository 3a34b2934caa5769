/**
 * Every relative link in README.md and docs/**\/*.md leads somewhere: the file (or folder) exists, and an `#anchor`
 * into a Markdown file names one of its headings as GitHub slugs them. Links to other sites are not followed.
 *
 * Written here rather than with a Markdown parser and github-slugger: the rules needed are few (links and images
 * outside code, ATX headings, GitHub's slug: lower case, drop everything but letters, marks, digits, connector
 * punctuation, spaces and hyphens, spaces to hyphens, "-1", "-2" for repeats), and a test-only dependency would
 * add lock-file churn for about thirty lines.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');

/** A heading's text as GitHub renders it (markup removed), then slugged. */
function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML tags
    .replace(/`([^`]*)`/g, '$1') // code spans: their content
    .replace(/(\*\*|\*)(?=\S)([\s\S]*?\S)\1/g, '$2'); // emphasis markers
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Each line, or null inside a fenced code block (and for the fence lines themselves). */
function outsideFences(md: string): Array<string | null> {
  let fence: string | null = null;
  return md.split('\n').map((line) => {
    const m = /^\s{0,3}(```+|~~~+)/.exec(line);
    if (m) {
      if (fence === null) fence = m[1][0];
      else if (m[1][0] === fence) fence = null;
      return null;
    }
    return fence === null ? line : null;
  });
}

/** The anchors a Markdown file offers: its headings' slugs (repeats numbered) and explicit id/name attributes. */
function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of outsideFences(md)) {
    if (line === null) continue;
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      const base = githubSlug(h[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      out.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const a of line.matchAll(/<a\s[^>]*(?:id|name)="([^"]+)"/g)) out.add(a[1]);
  }
  return out;
}

/** Relative link targets of a Markdown file: inline links and images, and reference definitions. */
function links(md: string): Array<{ line: number; target: string }> {
  const out: Array<{ line: number; target: string }> = [];
  outsideFences(md).forEach((raw, i) => {
    if (raw === null) return;
    const line = raw.replace(/`[^`]*`/g, '``'); // links in code spans are not links
    for (const m of line.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      out.push({ line: i + 1, target: m[1] });
    const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(\s|$)/.exec(line);
    if (def) out.push({ line: i + 1, target: def[1] });
  });
  return out.filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l.target)); // http:, https:, mailto:, …
}

/**
 * Broken relative links among `files` (repository-relative path → Markdown text); `exists` answers for paths that
 * are not among them (images, source files, folders).
 */
function brokenLinks(files: Record<string, string>, exists: (p: string) => boolean): string[] {
  const broken: string[] = [];
  for (const [file, md] of Object.entries(files)) {
    for (const { line, target } of links(md)) {
      const [rawPath, anchor] = target.split('#', 2) as [string, string | undefined];
      const rel =
        rawPath === ''
          ? file
          : path.posix.normalize(path.posix.join(path.posix.dirname(file), decodeURIComponent(rawPath)));
      const where = `${file}:${line}: ${target}`;
      if (rel.startsWith('../')) broken.push(`${where} (outside the repository)`);
      else if (!(rel in files) && !exists(rel)) broken.push(`${where} (no such file)`);
      else if (anchor !== undefined && rel.endsWith('.md')) {
        const text = files[rel] ?? fs.readFileSync(path.join(ROOT, rel), 'utf8');
        if (!anchors(text).has(decodeURIComponent(anchor))) broken.push(`${where} (no heading #${anchor} in ${rel})`);
      }
    }
  }
  return broken;
}

/** README.md and every Markdown file under docs/, repository-relative with '/' separators. */
function docsTree(): Record<string, string> {
  const files: Record<string, string> = { 'README.md': fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8') };
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.md')) files[rel] = fs.readFileSync(path.join(ROOT, rel), 'utf8');
    }
  };
  walk('docs');
  return files;
}

describe('links in README.md and docs/', () => {
  it('every relative link names a file that exists, and every #anchor a heading of it', () => {
    const files = docsTree();
    expect(Object.keys(files).length).toBeGreaterThan(10);
    expect(brokenLinks(files, (p) => fs.existsSync(path.join(ROOT, p)))).toEqual([]);
  });

  it('README.md stays a front page: at most 300 lines, and it links the docs index and the figures page', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme.trimEnd().split('\n').length).toBeLessThanOrEqual(300);
    expect(links(readme).map((l) => l.target)).toEqual(expect.arrayContaining(['docs/README.md', 'docs/figures.md']));
  });

  it('catches a missing file, a missing anchor, and a link out of the repository, but not links in code or to other sites', () => {
    const files = {
      'README.md': [
        '# Lookout',
        'See [the guide](docs/guide.md), [its setup](docs/guide.md#setup-in-5-minutes) and [a typo](docs/guide.md#set-up).',
        'Also [gone](docs/gone.md), [up](../outside.md), ![img](docs/pic.png) and [self](#lookout).',
        '`[not a link](docs/none.md)`, [site](https://example.com/x.md#y).',
        '```',
        '[in a fence](docs/none.md)',
        '```',
      ].join('\n'),
      'docs/guide.md': '# Guide\n\n## Setup in 5 minutes\n\n## FAQ\n\n## FAQ\n\n[second FAQ](#faq-1) [third](#faq-2)',
    };
    expect(brokenLinks(files, (p) => p === 'docs/pic.png')).toEqual([
      'README.md:2: docs/guide.md#set-up (no heading #set-up in docs/guide.md)',
      'README.md:3: docs/gone.md (no such file)',
      'README.md:3: ../outside.md (outside the repository)',
      'docs/guide.md:9: #faq-2 (no heading #faq-2 in docs/guide.md)',
    ]);
  });

  it('slugs headings as GitHub does', () => {
    expect(githubSlug('Every quality evaluation at once (`npm run eval`, 2026-12-03)')).toBe(
      'every-quality-evaluation-at-once-npm-run-eval-2026-12-03',
    );
    expect(githubSlug('CCTV: the attribute method (`cctv-anomaly`, default)')).toBe(
      'cctv-the-attribute-method-cctv-anomaly-default',
    );
    expect(githubSlug('Upload → row, **fast** and [linked](x.md)')).toBe('upload--row-fast-and-linked');
    expect(githubSlug('What differs from BigQuery on the embedded stack')).toBe(
      'what-differs-from-bigquery-on-the-embedded-stack',
    );
  });
});

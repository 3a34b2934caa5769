/** Rewrites the table of environment variables in docs/configuration.md from config.ts (`npm run docs:env`); a unit test fails when they differ. */
import fs from 'node:fs';
import path from 'node:path';
import { envVarsMarkdown } from '../config';

const file = path.join(__dirname, '..', 'docs', 'configuration.md');
const doc = fs.readFileSync(file, 'utf8');
const next = doc.replace(
  /<!-- env-table -->\n[\s\S]*?\n<!-- \/env-table -->/,
  `<!-- env-table -->\n${envVarsMarkdown()}\n<!-- /env-table -->`,
);
if (next === doc) console.log('docs/configuration.md: env table already up to date');
else {
  fs.writeFileSync(file, next);
  console.log('docs/configuration.md: env table rewritten');
}

/** Rewrites the README's table of environment variables from config.ts (`npm run docs:env`); a unit test fails when they differ. */
import fs from 'node:fs';
import path from 'node:path';
import { envVarsMarkdown } from '../config';

const file = path.join(__dirname, '..', 'README.md');
const readme = fs.readFileSync(file, 'utf8');
const next = readme.replace(/<!-- env-table -->\n[\s\S]*?\n<!-- \/env-table -->/, `<!-- env-table -->\n${envVarsMarkdown()}\n<!-- /env-table -->`);
if (next === readme) console.log('README.md: env table already up to date');
else {
  fs.writeFileSync(file, next);
  console.log('README.md: env table rewritten');
}

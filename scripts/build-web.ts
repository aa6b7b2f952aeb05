/**
 * Builds the central floor page (central/web/client) into dist/central-web, served by central/web/server.ts:
 * one bundled script, its CSS and the HTML, nothing fetched from elsewhere at run time (a floor may have no
 * internet). Run by `npm run build`.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'central/web/client');
const out = join(root, 'dist/central-web');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(src, 'floor.ts')],
  outfile: join(out, 'floor.js'),
  bundle: true,
  format: 'iife',
  target: ['chrome100', 'firefox100', 'safari15'],
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
});
for (const f of ['index.html', 'floor.css']) copyFileSync(join(src, f), join(out, f));

/**
 * Builds the centre's pages (central/web/client) into dist/central-web, served by central/web/server.ts.
 * Every `<name>.html` there is a page whose script is `<name>.ts`, bundled with what it imports (chart
 * library included); the CSS files are copied as they are. Nothing is fetched from elsewhere at run time:
 * a floor may have no internet. Run by `npm run build`.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'central/web/client');
const out = join(root, 'dist/central-web');
mkdirSync(out, { recursive: true });
const files = readdirSync(src);
const pages = files.filter((f) => f.endsWith('.html')).map((f) => basename(f, '.html'));
for (const page of pages) if (!existsSync(join(src, `${page}.ts`))) throw new Error(`page ${page}.html has no script ${page}.ts`);
await build({
  entryPoints: pages.map((p) => join(src, `${p}.ts`)),
  outdir: out,
  bundle: true,
  format: 'iife',
  target: ['chrome100', 'firefox100', 'safari15'],
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
});
for (const f of files) if (f.endsWith('.html') || f.endsWith('.css')) copyFileSync(join(src, f), join(out, f));
// Stylesheets of bundled libraries, served beside the pages' own (esbuild bundles their scripts only).
const vendorCss = ['uplot/dist/uPlot.min.css'];
for (const f of vendorCss) copyFileSync(join(root, 'node_modules', f), join(out, basename(f)));

/**
 * Builds the centre's pages (central/web/client) into dist/central-web, served by central/web/server.ts.
 * Every `<name>.html` there is a page whose script is `<name>.ts`, bundled with what it imports (chart
 * library included); the page file holds only what is its own (title, its stylesheets, its body) and gets the
 * head every page shares here. The CSS files are copied as they are. Nothing is fetched from elsewhere at run time:
 * a floor may have no internet. Run by `npm run build`.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
for (const f of files) if (f.endsWith('.css')) copyFileSync(join(src, f), join(out, f));
for (const page of pages) writeFileSync(join(out, `${page}.html`), withSharedHead(page, readFileSync(join(src, `${page}.html`), 'utf8')));
// Stylesheets of bundled libraries, served beside the pages' own (esbuild bundles their scripts only).
const vendorCss = ['uplot/dist/uPlot.min.css'];
for (const f of vendorCss) copyFileSync(join(root, 'node_modules', f), join(out, basename(f)));

/** A page as served: the shared head (app.css before the page's own sheets, so they can override it) around the page file. */
function withSharedHead(page: string, source: string): string {
  const at = source.indexOf('<body>');
  if (at < 0 || !/<title>/.test(source.slice(0, at))) throw new Error(`page ${page}.html must start with its <title> (and its own stylesheets) before <body>`);
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<link rel="stylesheet" href="/assets/app.css">',
    source.slice(0, at).trim(),
    `<script defer src="/assets/${page}.js"></script>`,
    '</head>',
    source.slice(at).trimEnd(),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

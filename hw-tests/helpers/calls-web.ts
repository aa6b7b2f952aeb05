import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { EmbeddedBroker } from '../../edge/run/demo.js';
import { callsRoutes } from '../../central/calls/routes.js';
import type { SqlStore } from '../../central/store/sql-store.js';
import { roleMay, type Authorize, type Caller } from '../../central/web/access.js';
import { startCentralWeb } from '../../central/web/server.js';
import { repoRoot } from '../../test/support/cli.js';
import { memoryLog } from '../../test/support/uplink.js';

let built = false;
/** The centre's pages, built once per test process (scripts/build-web.ts). */
export function buildPages(): void {
  if (!built) execFileSync(process.execPath, ['--import=tsx', join(repoRoot, 'scripts/build-web.ts')], { cwd: repoRoot });
  built = true;
}

/**
 * Who asks, by the `x-test-caller` header (default `callers.default`): accounts are another module's, so
 * the test decides who is signed in, and the roles' capabilities are the product's own (roleMay).
 */
export function callerByHeader(callers: Record<string, Caller>): Authorize {
  return async (need, request, reply) => {
    const name = String(request.headers['x-test-caller'] ?? 'default');
    const who = callers[name];
    if (!who) {
      await reply.code(401).send({ error: 'not signed in' });
      return null;
    }
    return roleMay(who.role, need) ? who : null;
  };
}

/** The centre's web app with the call routes on `store`, and the product's embedded broker for its live side. */
export async function startCallsWeb(store: SqlStore, authorize: Authorize): Promise<{ url: string; close: () => Promise<void> }> {
  buildPages();
  const broker = await EmbeddedBroker.start(0);
  const { log } = memoryLog('warn');
  const web = await startCentralWeb({ broker: broker.url, listen: '127.0.0.1:0', log, authorize, routes: [(app) => callsRoutes(app, { store, authorize, log })] });
  return {
    url: web.url,
    close: async () => {
      await web.close();
      await broker.close();
    },
  };
}

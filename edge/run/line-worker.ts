/**
 * A worker thread hosting some of the box's lines (see worker-line-group.ts for the other side). Everything
 * here is a LocalLineGroup; this file only carries messages across the thread boundary.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { log, logToStdout } from '../../lib/log.js';
import { LocalLineGroup, type LineGroupOptions } from './line-group.js';
import type { ToWorker, FromWorker, WorkerInit } from './worker-line-group.js';

const init = workerData as WorkerInit;
const port = parentPort;
if (!port) throw new Error('line-worker.ts runs only as a worker thread');
const post = (m: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);
if (init.logToStdout) logToStdout(init.logLevel);
else log.level = init.logLevel;

const options: LineGroupOptions = { config: init.config, rulesBundle: init.rulesBundle, settings: init.settings, log: log.child({ worker: init.id }), staggerSec: init.staggerSec, order: init.order };
const group = new LocalLineGroup(options, {
  alert: (callId, alert, ref) => post({ type: 'alert', callId, alert, ref }),
  index: (index) => post({ type: 'index', index }),
});

const statusTimer = setInterval(() => post({ type: 'status', statuses: group.statuses(), problems: group.problems() }), init.statusEveryMs);

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'boundary':
      group.boundary(m.line, m.boundary);
      break;
    case 'audio':
      void group.audio(m.line, m.sec).then((wav) => post({ type: 'audio', id: m.id, wav }));
      break;
    case 'reload':
      group.reload(m.change).then(
        () => post({ type: 'reloaded', id: m.id }),
        (err: Error) => post({ type: 'reloaded', id: m.id, error: err.message }),
      );
      break;
    case 'stop':
      void group.stop().then(() => {
        clearInterval(statusTimer);
        post({ type: 'status', statuses: group.statuses(), problems: group.problems() });
        post({ type: 'stopped' });
      });
      break;
  }
});

try {
  await group.start();
  post({ type: 'started', statuses: group.statuses(), problems: group.problems() });
  void group.done().then(() => post({ type: 'done', statuses: group.statuses() }));
} catch (err) {
  post({ type: 'failed', message: (err as Error).message });
}

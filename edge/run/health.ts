import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthSource {
  /** The whole box: `ok`, or `degraded` with the reasons; served as JSON on GET /health. */
  health(): { status: 'ok' | 'degraded' | 'starting' | 'stopping'; problems: string[] } & Record<string, unknown>;
  lines(): unknown[];
  /** A line's recent audio as WAV, from its in-memory ring; undefined when the line has no ring. */
  lineAudio(name: string, sec: number): Promise<Buffer | undefined | 'no-such-line'>;
  /** Served on GET /metrics in Prometheus' text format (edge/run/metrics.ts). */
  metrics?: Registry;
}

/**
 * The local health endpoint, on 127.0.0.1 only: for the installer's curl, systemd's watchdog scripts and the
 * floor supervisor's screen on the box. Recent audio is served here (and only here) because it never leaves
 * the box; binding to loopback keeps it that way.
 *
 *   GET /health              200 when ok, 503 when degraded (a line faulted, the uplink down, ...)
 *   GET /lines               every line's status
 *   GET /lines/<name>/audio?sec=60   the last seconds of that line's audio (run.ringBufferMin > 0)
 *   GET /metrics             Prometheus' text format: lines, RTF, outbox, alerts, acks, refusals
 */
export async function startHealthServer(port: number, source: HealthSource): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body, null, 2)}\n`);
    };
    if (req.method !== 'GET') return json(405, { error: 'GET only' });
    if (url.pathname === '/health') {
      const h = source.health();
      return json(h.status === 'ok' ? 200 : 503, h);
    }
    if (url.pathname === '/lines') return json(200, source.lines());
    if (url.pathname === '/metrics' && source.metrics) {
      const body = await source.metrics.metrics();
      res.writeHead(200, { 'content-type': source.metrics.contentType });
      return res.end(body);
    }
    const audio = /^\/lines\/([^/]+)\/audio$/.exec(url.pathname);
    if (audio) {
      const sec = Math.max(1, Math.min(3600, Number(url.searchParams.get('sec') ?? 60) || 60));
      const wav = await source.lineAudio(decodeURIComponent(audio[1]), sec);
      if (wav === 'no-such-line') return json(404, { error: `no line ${audio[1]}` });
      if (!wav) return json(404, { error: 'no audio ring on this box (run.ringBufferMin is 0)' });
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': wav.length });
      return res.end(wav);
    }
    return json(404, { error: 'not found', endpoints: ['/health', '/lines', '/lines/<name>/audio?sec=60', '/metrics'] });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

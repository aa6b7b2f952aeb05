/**
 * The live floor page's server: subscribes itself to every box's alerts, availability, status, stats and
 * live state (a plain subscription with its own client id, so several web processes behind a load balancer
 * each hear everything and a page works on any of them), keeps the latest in memory (floor.ts), and serves
 * the page, its current state and a Server-Sent Events stream per floor.
 *
 * Who may see what is decided by `authorize` (central/web/access.ts); accounts (central/auth) provide it.
 * Every route says what it needs in `config.need`, and one hook asks `authorize` before any handler runs:
 * a route cannot forget to ask, and one without a `need` stops the server at start.
 */
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { Logger } from 'pino';
import { packageRoot } from '../../lib/package.js';
import type { MqttProtocolSetting, TlsConfig, TransportSetting } from '../../provisioning/config.js';
import { createTransport } from '../../edge/uplink/transports.js';
import { InboundGuard, maxPacketBytes, readWire } from '../../edge/uplink/wire.js';
import { FLOOR_ACK_SCHEMA, floorAckTopic, type RecordEnvelope } from '../../edge/uplink/topics.js';
import { capabilitiesOf, mayseeSite, openAccess, visibleSites, type Authorize } from './access.js';
import { MemoryAckStore, type AckStore, type AlertAck } from './acks.js';
import { FloorState, type FloorEvent } from './floor.js';
import type { RecordGate } from '../record-gate.js';

export interface CentralWebOptions {
  /** default mqtt (edge/uplink/transports.ts) */
  transport?: TransportSetting;
  broker: string;
  prefix?: string;
  /** host:port to listen on; 127.0.0.1 unless told otherwise (port 0: any free one) */
  listen?: string;
  protocol?: MqttProtocolSetting;
  tls?: TlsConfig;
  username?: string;
  passwordFile?: string;
  clientId?: string;
  log: Logger;
  acks?: AckStore;
  /** default openAccess: only for tests and a loopback centre with accounts off */
  authorize?: Authorize;
  /** more routes on the same server (calls, search, review, accounts), registered before it listens */
  routes?: ((app: FastifyInstance) => Promise<void>)[];
  /** the built page (scripts/build-web.ts); default dist/central-web of this package */
  assetsDir?: string;
  /** Fastify's trustProxy: behind a load balancer, the client's address and protocol from its X-Forwarded-* headers */
  trustProxy?: boolean | string;
  maxAlertsPerSite?: number;
  /**
   * The floor's recent alerts with their acknowledgements, read once at start, so a restarted process (or
   * one added behind the load balancer) shows what the others show, not an empty floor.
   */
  recentAlerts?: () => Promise<{ record: RecordEnvelope; ack: AlertAck | null }[]>;
  /** checks each live alert's signature before it is shown (central/record-gate.ts); none: shown as it comes */
  recordGate?: RecordGate;
}

/** A route as registered, with what it needs (the every-route tests walk these). */
export interface RouteInfo {
  method: string;
  url: string;
  need: string;
}

export interface CentralWeb {
  url: string;
  floor: FloorState;
  routes: readonly RouteInfo[];
  /** live floor pages connected now (SSE streams) */
  sseClients(): number;
  close(): Promise<void>;
}

const LEAVES = ['alerts', 'availability', 'status', 'stats', 'live'] as const;
type Leaf = (typeof LEAVES)[number];
const SSE_HEARTBEAT_MS = 15_000;
/**
 * How often an open stream asks again whether its caller may still see the floor: a sign-out (in another
 * tab, on another web process), an expired session or a site taken away ends the stream within this.
 */
const SSE_RECHECK_MS = 5_000;

export function defaultAssetsDir(): string {
  return join(packageRoot(import.meta.url), 'dist', 'central-web');
}

export async function startCentralWeb(options: CentralWebOptions): Promise<CentralWeb> {
  const { log } = options;
  const prefix = options.prefix ?? 'earshot';
  const acks = options.acks ?? new MemoryAckStore();
  const authorize = options.authorize ?? openAccess;
  const assets = resolve(options.assetsDir ?? defaultAssetsDir());
  if (!existsSync(join(assets, 'floor.html'))) throw new Error(`the centre's pages are not built (${assets}/floor.html): npm run build`);
  const floor = new FloorState(options.maxAlertsPerSite);
  const guard = new InboundGuard(log);
  /** per box, the alert being checked before the next: the registry lookup is async, the order is kept */
  const checking = new Map<string, Promise<void>>();
  /** A live alert reaches the floor only when its signature passes, as it would for ingest to store it. */
  function showAlert(topic: string, payload: Buffer, record: RecordEnvelope): void {
    const gate = options.recordGate;
    if (!gate) return floor.alertRecord(record);
    const previous = checking.get(record.box) ?? Promise.resolve();
    const next = previous
      .then(() => gate.problems([{ payload, record }]))
      .then(([problem]) => (problem === null ? floor.alertRecord(record) : guard.reject(topic, `alert seq ${record.seq} not shown: ${problem}`)))
      .catch((err: unknown) => guard.reject(topic, `alert seq ${record.seq} not shown: its box's key could not be read (${(err as Error).message})`))
      .finally(() => {
        if (checking.get(record.box) === next) checking.delete(record.box);
      });
    checking.set(record.box, next);
  }

  const transport = createTransport(options.transport ?? 'mqtt', {
    url: options.broker,
    // A clean session, so a fresh id each start costs nothing, and two web apps in one process (tests, a demo) never take each other's connection.
    clientId: (options.clientId ?? `earshot-web-${process.pid}-${randomBytes(3).toString('hex')}-${hostname()}`).slice(0, 64),
    protocol: options.protocol ?? 'auto',
    clean: true,
    keepaliveSec: 30,
    connectTimeoutSec: 10,
    reconnect: { minSec: 0.5, maxSec: 10, jitter: 0.3 },
    username: options.username,
    passwordFile: options.passwordFile,
    tls: options.tls,
    maxPacketBytes: maxPacketBytes(['record', 'status', 'stats', 'live', 'availability', 'floor-ack']),
    log,
  });
  transport.on('message', (topic: string, payload: Buffer) => guard.run(topic, () => onMessage(topic, payload)));
  transport.subscribe([...LEAVES.map((leaf) => `${prefix}/+/+/${leaf}`), floorAckTopic(prefix, '+')]);
  for (const { record, ack } of (await options.recentAlerts?.()) ?? []) {
    floor.alertRecord(record);
    const alert = floor.findAlert(record.box, record.seq);
    if (alert && ack && !alert.ack) floor.acknowledged(alert, ack);
  }

  /** Another central process's acknowledgement: shown here too, unless this process already has one. */
  function onFloorAck(topic: string, payload: Buffer): void {
    const r = readWire('floor-ack', payload);
    if (!r.ok) return guard.reject(topic, r.reason);
    if (topic !== floorAckTopic(prefix, r.value.site)) return guard.reject(topic, 'floor-ack site disagrees with its topic');
    const alert = floor.alertByKey(r.value.site, r.value.key);
    if (alert && !alert.ack) floor.acknowledged(alert, { by: r.value.by, at: r.value.at });
  }

  function onMessage(topic: string, payload: Buffer): void {
    if (topic.startsWith(floorAckTopic(prefix, ''))) return onFloorAck(topic, payload);
    const parts = topic.slice(prefix.length + 1).split('/');
    if (!topic.startsWith(`${prefix}/`) || parts.length !== 3) return;
    const [site, box, leaf] = parts as [string, string, Leaf];
    const agrees = (v: { box: string; site: string }) => v.box === box && v.site === site;
    switch (leaf) {
      case 'alerts': {
        const r = readWire('record', payload);
        if (!r.ok) return guard.reject(topic, r.reason);
        if (!agrees(r.value) || r.value.kind !== 'alert') return guard.reject(topic, 'record box, site or kind disagrees with its topic');
        return showAlert(topic, payload, r.value);
      }
      case 'availability': {
        const r = readWire('availability', payload);
        if (!r.ok) return guard.reject(topic, r.reason);
        return floor.availability(site, box, r.value);
      }
      case 'status':
      case 'stats':
      case 'live': {
        const r = readWire(leaf, payload);
        if (!r.ok) return guard.reject(topic, r.reason);
        if (!agrees(r.value)) return guard.reject(topic, `${leaf} box or site disagrees with its topic`);
        if (leaf === 'status') floor.status(r.value as never);
        else if (leaf === 'stats') floor.stats(r.value as never);
        else floor.live(r.value as never);
      }
    }
  }

  const routes: RouteInfo[] = [];
  // Fastify's own per-request logging would be a line per SSE reconnect and page load; errors are logged here.
  const app = Fastify({ trustProxy: options.trustProxy ?? false });
  app.addHook('onError', async (request, _reply, err) => log.error({ err, url: request.url }, 'central web request failed'));
  // The page loads nothing from anywhere else: a floor with no internet gets all of it.
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('content-security-policy', "default-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'");
    reply.header('x-content-type-options', 'nosniff');
    return payload;
  });
  app.addHook('onRoute', (route) => {
    // The built assets (scripts, styles) are what the sign-in page needs too; they hold nothing of a site.
    if (route.url.startsWith('/assets/')) return;
    if (!route.config?.need) throw new Error(`route ${String(route.method)} ${route.url} does not say what it needs (config.need)`);
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, need: route.config.need });
  });
  // A site the caller may not see answers as if it had nothing: its name is not confirmed either.
  app.addHook('preHandler', async (request, reply) => {
    const need = request.routeOptions.config.need;
    if (need === undefined || need === 'public') return;
    const who = await authorize(need, request, reply);
    if (!who) return reply.sent ? reply : reply.code(403).send({ error: 'forbidden' });
    const site = (request.params as { site?: string } | undefined)?.site;
    if (site !== undefined && !mayseeSite(who, site)) return reply.code(404).send({ error: `no site ${site}` });
    request.caller = who;
  });
  await app.register(fastifyStatic, { root: assets, prefix: '/assets/', index: false });
  app.get('/', { config: { need: 'live' } }, servePage('floor'));
  app.get('/floor/:site', { config: { need: 'live' } }, servePage('floor'));
  app.get('/api/session', { config: { need: 'signed-in' } }, async (request) => {
    const { name, role, sites, csrf } = request.caller!;
    return { name, role, sites, csrf: csrf ?? '', capabilities: capabilitiesOf(role) };
  });

  app.get('/api/sites', { config: { need: 'live' } }, async (request) => ({ sites: visibleSites(request.caller!, floor.sites()) }));
  app.get<{ Params: { site: string } }>('/api/floor/:site', { config: { need: 'live' } }, async (request) => floor.snapshot(request.params.site));

  const streams = new Map<string, Set<FastifyReply>>();
  const send = (reply: FastifyReply, event: string, data: unknown) => reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  floor.on('event', (e: FloorEvent) => {
    for (const reply of streams.get(e.site) ?? []) send(reply, e.type, e);
  });

  app.get<{ Params: { site: string } }>('/api/live/:site', { config: { need: 'live' } }, async (request, reply) => {
    const { site } = request.params;
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    reply.raw.socket?.setNoDelay(true);
    // The snapshot first, on the same stream: nothing published between a fetch and the subscription is missed.
    send(reply, 'snapshot', floor.snapshot(site));
    const set = streams.get(site) ?? new Set<FastifyReply>();
    streams.set(site, set);
    set.add(reply);
    const heartbeat = setInterval(() => reply.raw.write(': keep-alive\n\n'), SSE_HEARTBEAT_MS);
    // The same decision as at the start, on the same request (its cookie). The reply is hijacked, so what
    // authorize would answer (401, 403) goes nowhere; the page's reconnect then gets that answer instead.
    const recheck = setInterval(() => {
      authorize('live', request, reply)
        .then((who) => {
          if (!who || !mayseeSite(who, site)) reply.raw.end();
        })
        .catch((err: Error) => log.warn({ site, reason: err.message }, 'could not recheck a live stream; it stays open'));
    }, SSE_RECHECK_MS);
    // The page going away closes the request; the stream ended here closes the response.
    const done = () => {
      clearInterval(heartbeat);
      clearInterval(recheck);
      set.delete(reply);
    };
    request.raw.on('close', done);
    reply.raw.on('close', done);
  });

  app.post<{ Params: { box: string; seq: string } }>('/api/alerts/:box/:seq/ack', { config: { need: 'acknowledge' } }, async (request, reply) => {
    const alert = floor.findAlert(request.params.box, Number(request.params.seq));
    if (!alert || !mayseeSite(request.caller!, alert.site)) return reply.code(404).send({ error: 'no such alert' });
    // The box took it back: an acknowledgement would put a name to a false alarm nobody has to attend to.
    if (alert.withdrawn !== null) return reply.code(409).send({ error: `withdrawn by the box, nothing to acknowledge: ${alert.withdrawn}` });
    const ack = await acks.acknowledge(alert.key, { by: request.caller!.name, at: new Date().toISOString() }, { site: alert.site, box: alert.box, callId: alert.callId, alertId: alert.id });
    floor.acknowledged(alert, ack);
    // The other central processes' pages: best effort, since each reads stored acknowledgements when it starts.
    const message = { schema: FLOOR_ACK_SCHEMA, site: alert.site, key: alert.key, by: ack.by, at: ack.at };
    transport.publish(floorAckTopic(prefix, alert.site), JSON.stringify(message), { qos: 1 }).catch((err: Error) => log.warn({ key: alert.key, reason: err.message }, 'could not tell the other central processes of an acknowledgement'));
    return { key: alert.key, ack };
  });

  for (const routes of options.routes ?? []) await routes(app);

  const [host, port] = splitListen(options.listen ?? '127.0.0.1:0');
  const address = await app.listen({ host, port });
  transport.start();
  log.info({ url: address, broker: options.broker, prefix }, 'central web listening');
  return {
    url: address,
    floor,
    routes,
    sseClients: () => [...streams.values()].reduce((n, set) => n + set.size, 0),
    close: async () => {
      for (const set of streams.values()) for (const reply of set) reply.raw.end();
      await transport.close();
      await app.close();
    },
  };
}

/** A built page (central/web/client/<name>.html): its script asks the API for what it shows. */
export function servePage(name: string) {
  return (_req: FastifyRequest, reply: FastifyReply) => reply.type('text/html').sendFile(`${name}.html`);
}

function splitListen(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  if (i < 0) return ['127.0.0.1', Number(listen)];
  return [listen.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1', Number(listen.slice(i + 1))];
}

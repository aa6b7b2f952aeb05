/**
 * sd_notify for `Type=notify` + `WatchdogSec=` (deploy/earshot.service): READY=1 once every line is open,
 * WATCHDOG=1 pings from the main thread's event loop, STOPPING=1 on SIGTERM.
 *
 * The pings come from a timer on the main event loop, on purpose: if that loop is stuck (a synchronous
 * loop, a native call that never returns) the timer cannot fire, the pings stop, and systemd kills and
 * restarts the agent after WatchdogSec. A ping from another thread would keep a dead agent "alive".
 *
 * $NOTIFY_SOCKET is a unix *datagram* socket, which Node cannot open (node:dgram is UDP only, node:net is
 * streams only). The npm packages that can (sd-notify, unix-dgram) are native addons compiled at install,
 * which the box's image would then need a compiler for; koffi, already loaded for sherpa-onnx's C API, calls
 * libc's socket/sendto instead: three functions, no build.
 */
import koffi from 'koffi';
import type { Logger } from 'pino';

const AF_UNIX = 1;
// Linux's generic values (x86-64 and arm64 alike).
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
const MSG_DONTWAIT = 0x40;
const SUN_PATH_MAX = 108;

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  sendto: (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number) => number | bigint;
  close: (fd: number) => number;
}

let libc: Libc | undefined;
function loadLibc(): Libc {
  if (!libc) {
    const lib = koffi.load('libc.so.6');
    libc = {
      socket: lib.func('int socket(int domain, int type, int protocol)'),
      sendto: lib.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)'),
      close: lib.func('int close(int fd)'),
    };
  }
  return libc;
}

/** struct sockaddr_un for a path, or for an abstract name (systemd's "@name": a leading NUL byte). */
function sockaddrUn(socketPath: string): Buffer {
  const name = Buffer.from(socketPath.startsWith('@') ? `\0${socketPath.slice(1)}` : socketPath, 'utf8');
  if (name.length >= SUN_PATH_MAX) throw new Error(`NOTIFY_SOCKET is longer than ${SUN_PATH_MAX - 1} bytes`);
  // family (host order: little-endian on every target) + path; a file path gets its NUL, an abstract name none.
  const abstract = name[0] === 0;
  const addr = Buffer.alloc(2 + name.length + (abstract ? 0 : 1));
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, 2);
  return addr;
}

export interface WatchdogSettings {
  /** how often to ping: half of WatchdogSec, as systemd recommends */
  intervalMs: number;
}

/** The watchdog systemd asked for, if it asked this process: WATCHDOG_USEC, and WATCHDOG_PID when set. */
export function watchdogFromEnv(env: NodeJS.ProcessEnv, pid = process.pid): WatchdogSettings | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return { intervalMs: Math.max(1, Math.floor(usec / 2000)) };
}

export class SystemdNotifier {
  private timer?: NodeJS.Timeout;
  private failures = 0;
  private sent = 0;

  private constructor(
    private readonly fd: number,
    private readonly addr: Buffer,
    readonly socketPath: string,
    private readonly log: Logger,
  ) {}

  /** Undefined when not started by systemd with Type=notify (no $NOTIFY_SOCKET): every call is then a no-op. */
  static fromEnv(log: Logger, env: NodeJS.ProcessEnv = process.env): SystemdNotifier | undefined {
    const socketPath = env.NOTIFY_SOCKET;
    if (!socketPath) return undefined;
    try {
      const c = loadLibc();
      const addr = sockaddrUn(socketPath);
      const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) throw new Error(`socket() failed (errno ${koffi.errno()})`);
      return new SystemdNotifier(fd, addr, socketPath, log);
    } catch (err) {
      // The agent runs without it; systemd will say the start timed out, and this line says why.
      log.error({ notifySocket: socketPath, err: (err as Error).message }, 'cannot notify systemd: READY and watchdog pings will not be sent');
      return undefined;
    }
  }

  /** Sends one notification ("READY=1", "WATCHDOG=1", "STATUS=..."); false if the socket refused it. */
  notify(state: string): boolean {
    const msg = Buffer.from(state, 'utf8');
    // Non-blocking: a systemd too busy to read must not stall the event loop the pings are meant to prove.
    const n = Number(loadLibc().sendto(this.fd, msg, msg.length, MSG_NOSIGNAL | MSG_DONTWAIT, this.addr, this.addr.length));
    if (n < 0) {
      const errno = koffi.errno();
      if (this.failures++ === 0) this.log.warn({ notifySocket: this.socketPath, errno, state: state.split('\n')[0] }, 'systemd notification not sent');
      return false;
    }
    if (this.failures > 0) this.log.info({ failed: this.failures }, 'systemd notifications go through again');
    this.failures = 0;
    this.sent++;
    return true;
  }

  /** WATCHDOG=1 every `intervalMs` from this thread's event loop (see the top of this file for why). */
  startWatchdog(settings: WatchdogSettings): void {
    this.stopWatchdog();
    this.notify('WATCHDOG=1');
    this.timer = setInterval(() => this.notify('WATCHDOG=1'), settings.intervalMs);
    // The pings never keep a finished process alive.
    this.timer.unref();
    this.log.info({ intervalMs: settings.intervalMs }, 'systemd watchdog pings started');
  }

  stopWatchdog(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get notificationsSent(): number {
    return this.sent;
  }

  close(): void {
    this.stopWatchdog();
    loadLibc().close(this.fd);
  }
}

import type * as Undici from 'undici';

/**
 * The one process-wide connection pool. Only the CLI entry point asks for it: libraries and
 * tests keep whatever global dispatcher is current (nock 15.0.0 only sees the global one).
 * undici is not imported here so the entry point can call this without paying for undici at
 * start-up; the transport applies it on its first request.
 */
export interface AgentSettings {
  /** Sockets per origin: bounds parallel blob transfers to one registry. */
  connections: number;
  keepAliveTimeout: number;
  keepAliveMaxTimeout: number;
}

export const DEFAULT_AGENT: AgentSettings = { connections: 16, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000 };

let wanted: AgentSettings | undefined;
let installed = false;

/** Ask for the tuned global Agent; takes effect on the first registry request of the process. */
export function installAgent(settings: Partial<AgentSettings> = {}): void {
  wanted = { ...DEFAULT_AGENT, ...settings };
  installed = false;
  baselineWasmAtFirstConnect();
}

let watching = false;

/**
 * undici parses HTTP with a WebAssembly module compiled on its first connection; V8's
 * background optimising compile of it holds the process ~100-150 ms at exit, and the baseline
 * compiler (Liftoff) alone parses headers fast enough. The flag is set just before undici's
 * first connection (any dispatcher, also per-host TLS ones), not at start-up: changing V8 flags
 * makes V8 reject Node's code cache for every built-in module loaded afterwards (measured: ~110 M
 * more instructions, ~14 ms, for `regctl tags`).
 */
function baselineWasmAtFirstConnect(): void {
  if (watching) return;
  watching = true;
  let done = false;
  process.getBuiltinModule('node:diagnostics_channel').subscribe('undici:client:beforeConnect', () => {
    if (done) return;
    done = true;
    process.getBuiltinModule('node:v8').setFlagsFromString('--liftoff-only');
  });
}

/** Called by the transport (which has undici loaded) before it picks the global dispatcher. */
export function applyAgent(undici: Pick<typeof Undici, 'Agent' | 'setGlobalDispatcher'>): void {
  if (!wanted || installed) return;
  undici.setGlobalDispatcher(
    new undici.Agent({
      connections: wanted.connections,
      keepAliveTimeout: wanted.keepAliveTimeout,
      keepAliveMaxTimeout: wanted.keepAliveMaxTimeout,
    }),
  );
  installed = true;
}

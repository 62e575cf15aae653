import type { ServerResponse } from 'node:http';

/**
 * The one count of what a response sent, shared by metrics and the access log: res.write and
 * res.end are wrapped once per response, however many observers ask.
 */
export interface ResponseMeter {
  /** performance.now() when the request was first metered. */
  readonly startedMs: number;
  /** Response body bytes written so far. */
  readonly bytesOut: number;
  /** Request body bytes the handler stored (it alone knows); else observers use Content-Length. */
  bytesIn: number | undefined;
  /** Run `fn` once when the response finishes or its connection closes, whichever comes first. */
  onEnd(fn: () => void): void;
  /**
   * The status to record: the response's, once all of it went out; 0 for a connection that
   * closed first. "All of it" is also every byte its Content-Length declared: a client that has
   * read them may close before the handler's end() runs, and then 'close' beats 'finish'.
   */
  readonly recordedStatus: number;
}

const meters = new WeakMap<ServerResponse, ResponseMeter>();

export function meterResponse(res: ServerResponse): ResponseMeter {
  const existing = meters.get(res);
  if (existing) return existing;
  let out = 0;
  const waiting: Array<() => void> = [];
  let ended = false;
  const meter: ResponseMeter = {
    startedMs: performance.now(),
    get bytesOut() {
      return out;
    },
    bytesIn: undefined,
    get recordedStatus() {
      if (res.writableFinished) return res.statusCode;
      const declared = Number(res.getHeader('content-length'));
      return res.headersSent && Number.isSafeInteger(declared) && out === declared ? res.statusCode : 0;
    },
    onEnd(fn) {
      waiting.push(fn);
    },
  };
  const count = (chunk: unknown, encoding: unknown) => {
    if (typeof chunk === 'string') out += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    else if (chunk instanceof Uint8Array) out += chunk.byteLength;
  };
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    count(chunk, rest[0]);
    return write(chunk, ...rest);
  }) as ServerResponse['write'];
  res.end = ((...args: unknown[]) => {
    if (args[0] !== undefined && typeof args[0] !== 'function') count(args[0], args[1]);
    return end(...args);
  }) as ServerResponse['end'];
  const finish = () => {
    if (ended) return;
    ended = true;
    for (const fn of waiting) fn();
  };
  res.once('finish', finish);
  res.once('close', finish);
  meters.set(res, meter);
  return meter;
}

// A loopback TCP proxy that makes a link look like a WAN: every chunk is delivered one-way
// latency after it left the (bandwidth-capped) link, in order, per direction.
//
//   node bench/wan-proxy.mjs --target 127.0.0.1:5000 [--latency-ms 20] [--mbit 200] [--port 0]
//
// prints `listening 127.0.0.1:PORT` and runs until killed. Used by bench/wan.mjs (one proxy in
// front of each registry) and imported by test/bench/wan-proxy.test.ts.
//
// Model per direction: a chunk that arrives at time a starts transmission at
// max(a, end of the previous chunk's transmission), takes bytes*8/rate, and is delivered
// latency-ms after its transmission ends. Deliveries therefore stay in order and the byte rate
// never exceeds the cap. When more than `bufferBytes` wait in a direction, the sending socket is
// paused (TCP backpressure, as a full router queue would cause), so memory stays bounded.
import { createConnection, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * @param {{ target: string, latencyMs?: number, mbit?: number, port?: number, bufferBytes?: number, countRequests?: boolean }} opts
 * @returns {Promise<{ port: number, address: string, close(): Promise<void>, stats: { up: number, down: number, connections: number, requests: number } }>}
 */
export async function startWanProxy(opts) {
  const [host, portText] = splitHostPort(opts.target);
  const latency = opts.latencyMs ?? 20;
  const bytesPerMs = opts.mbit ? (opts.mbit * 1e6) / 8 / 1000 : Infinity;
  const bufferBytes = opts.bufferBytes ?? 4 * 1024 * 1024;
  const stats = { up: 0, down: 0, connections: 0, requests: 0 };
  // HTTP/1.1 request lines seen going up (bench/wan.mjs counts requests with it). A request head
  // split across two chunks is missed; undici and Go write each head in one piece.
  const requestLine = /(?:^|\n)(?:GET|HEAD|PUT|POST|PATCH|DELETE) \S+ HTTP\/1\.1\r\n/g;
  const countRequests = (chunk) => {
    if (!opts.countRequests) return;
    const m = chunk.toString('latin1').match(requestLine);
    if (m) stats.requests += m.length;
  };
  const sockets = new Set();

  const server = createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
    stats.connections++;
    const upstream = createConnection({ host, port: Number(portText), noDelay: true, allowHalfOpen: true });
    sockets.add(client);
    sockets.add(upstream);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    // A side that closed cleanly has had its end queued; the other side ends when that end is
    // delivered (after the latency), not now. Errors (resets) tear both down at once.
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    shape(client, upstream, (n, chunk) => {
      stats.up += n;
      countRequests(chunk);
    });
    shape(upstream, client, (n) => (stats.down += n));
  });

  /** One direction: queue chunks with their delivery time, deliver them in order on a timer. */
  function shape(from, to, count) {
    const queue = []; // { at, chunk } (chunk null = end of stream)
    let linkFree = 0; // when the link finishes sending what is queued
    let queued = 0;
    let timer;
    const schedule = () => {
      if (timer || queue.length === 0) return;
      timer = setTimeout(flush, Math.max(0, queue[0].at - performance.now()));
    };
    const flush = () => {
      timer = undefined;
      const now = performance.now();
      while (queue.length && queue[0].at <= now + 0.5) {
        const { chunk } = queue.shift();
        if (chunk === null) {
          to.end();
          continue;
        }
        queued -= chunk.length;
        count(chunk.length, chunk);
        if (!to.destroyed) to.write(chunk);
      }
      if (queued + to.writableLength < bufferBytes && from.isPaused()) from.resume();
      schedule();
    };
    from.on('data', (chunk) => {
      const now = performance.now();
      const start = Math.max(now, linkFree);
      linkFree = start + chunk.length / bytesPerMs;
      queue.push({ at: linkFree + latency, chunk });
      queued += chunk.length;
      if (queued + to.writableLength >= bufferBytes) from.pause();
      schedule();
    });
    from.on('end', () => {
      queue.push({ at: Math.max(performance.now(), linkFree) + latency, chunk: null });
      schedule();
    });
    // The receiver's own backpressure: stop reading while it cannot take more.
    to.on('drain', () => {
      if (queued + to.writableLength < bufferBytes && from.isPaused()) from.resume();
    });
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    port,
    address: `127.0.0.1:${port}`,
    stats,
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function splitHostPort(target) {
  const at = target.lastIndexOf(':');
  if (at <= 0) throw new Error(`--target must be HOST:PORT, got ${target}`);
  return [target.slice(0, at), target.slice(at + 1)];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const arg = (name, dflt) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : dflt;
  };
  const target = arg('--target');
  if (!target) {
    console.error('usage: node bench/wan-proxy.mjs --target HOST:PORT [--latency-ms 20] [--mbit 200] [--port 0]');
    process.exit(2);
  }
  const p = await startWanProxy({
    target,
    latencyMs: Number(arg('--latency-ms', '20')),
    mbit: Number(arg('--mbit', '200')) || undefined,
    port: Number(arg('--port', '0')),
  });
  console.log(`listening ${p.address}`);
}

import { connect, type Socket } from 'node:net';

/**
 * HTTP/1.1 spoken by hand over one socket: what a keep-alive client (Go's, the OCI conformance
 * suite's) does, byte for byte, including sending a body the server answers before reading.
 */

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export class RawConnection {
  private buffered = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  /** Write errors (EPIPE/ECONNRESET after the server closed): expected when it answers early. */
  writeErrors = 0;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, c]);
      this.wake();
    });
    socket.on('error', () => {
      this.writeErrors++;
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private change(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(data);
  }

  /** True once a complete response head has arrived. */
  hasResponseHead(): boolean {
    return this.buffered.includes('\r\n\r\n');
  }

  /** Wait for one response (head and Content-Length body); throws if the socket closes first. */
  async response(timeoutMs = 10_000): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffered.indexOf('\r\n\r\n');
      if (end >= 0) {
        const lines = this.buffered.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0]!)?.[1]);
        const headers: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        const len = Number(headers['content-length'] ?? 0);
        if (this.buffered.length >= end + 4 + len) {
          const body = this.buffered.subarray(end + 4, end + 4 + len);
          this.buffered = this.buffered.subarray(end + 4 + len);
          return { status, headers, body };
        }
      }
      if (this.closed) throw new Error(`connection closed before a full response (${this.buffered.length} bytes: ${this.buffered.toString('latin1').slice(0, 80)})`);
      await this.change(Math.max(1, deadline - Date.now()));
    }
  }

  /** Wait until the server closes the connection. */
  async closedByServer(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) await this.change(Math.max(1, deadline - Date.now()));
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function requestHead(method: string, path: string, headers: Record<string, string | number> = {}): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Send `body` chunked, a piece at a time, stopping once the server has answered or after all of
 * it (then the terminating chunk). Yields to the event loop between pieces so an early answer
 * is seen.
 */
export async function sendChunked(conn: RawConnection, body: Buffer, piece = 16 * 1024): Promise<void> {
  for (let off = 0; off < body.length; off += piece) {
    if (conn.closed || conn.hasResponseHead()) return;
    const part = body.subarray(off, off + piece);
    conn.write(`${part.length.toString(16)}\r\n`);
    conn.write(part);
    conn.write('\r\n');
    await new Promise((r) => setImmediate(r));
  }
  conn.write('0\r\n\r\n');
}

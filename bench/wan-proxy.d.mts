// Types of bench/wan-proxy.mjs for the TypeScript tests that import it.
export interface WanProxy {
  port: number;
  /** `127.0.0.1:PORT` */
  address: string;
  /** Bytes delivered client -> target (up) and target -> client (down); connections accepted. */
  /** requests: HTTP/1.1 request lines sent up (only with countRequests). */
  stats: { up: number; down: number; connections: number; requests: number };
  close(): Promise<void>;
}

export function startWanProxy(opts: { target: string; latencyMs?: number; mbit?: number; port?: number; bufferBytes?: number; countRequests?: boolean }): Promise<WanProxy>;

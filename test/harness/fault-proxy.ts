import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fault-injecting HTTP proxy in front of the real registry (test code). With a seeded random
 * generator it answers some requests with 500/502/503/504, 429 with Retry-After, resets the
 * connection, delays, or cuts a blob download in the middle; everything else is forwarded as is.
 */

export interface FaultMix {
  /** Probability of each fault per request (summed must stay below 1). */
  error5xx?: number;
  rateLimit?: number;
  reset?: number;
  delay?: number;
  /** For blob GETs: send half the body, then drop the connection. */
  cutBlob?: number;
  /** Only inject into requests whose method matches (default all). */
  methods?: string[];
}

export interface FaultProxy {
  host: string;
  stats: Record<string, number>;
  /** `METHOD path` of every request forwarded, in order (request counts of a client). */
  forwarded: string[];
  /** TCP connections clients opened to the proxy (connection reuse). */
  readonly connections: number;
  setMix(mix: FaultMix): void;
  stop(): Promise<void>;
}

/** mulberry32: small, seeded, good enough for test fault schedules. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startFaultProxy(target: string, mix: FaultMix, seed = 42): Promise<FaultProxy> {
  const [targetHost, targetPort] = target.split(':');
  const next = random(seed);
  let current = mix;
  const forwarded: string[] = [];
  const stats: Record<string, number> = { forwarded: 0, error5xx: 0, rateLimit: 0, reset: 0, delay: 0, cutBlob: 0 };

  const forward = (req: IncomingMessage, res: ServerResponse, cut: boolean) => {
    const upstream = httpRequest(
      {
        host: targetHost,
        port: Number(targetPort),
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target },
      },
      (up) => {
        // Location headers name the registry; rewrite them so the client keeps talking to the proxy.
        const headers = { ...up.headers };
        if (typeof headers.location === 'string')
          headers.location = headers.location.replace(`//${target}`, `//${req.headers.host}`);
        res.writeHead(up.statusCode ?? 502, headers);
        if (cut) {
          let sent = 0;
          const half = Math.floor(Number(up.headers['content-length'] ?? 0) / 2);
          up.on('data', (chunk: Buffer) => {
            if (sent + chunk.length >= half) {
              res.write(chunk.subarray(0, Math.max(0, half - sent)));
              res.socket?.destroy();
              up.destroy();
              return;
            }
            sent += chunk.length;
            res.write(chunk);
          });
          up.on('end', () => res.end());
        } else {
          up.pipe(res);
        }
      },
    );
    upstream.on('error', () => res.socket?.destroy());
    req.pipe(upstream);
    stats.forwarded!++;
    forwarded.push(`${req.method} ${req.url}`);
  };

  const server: Server = createServer((req, res) => {
    const mix = current;
    const eligible = !mix.methods || mix.methods.includes(req.method ?? '');
    // /v2/ pings and token requests stay clean so every run starts the same way.
    const roll = eligible && req.url !== '/v2/' ? next() : 1;
    let edge = 0;
    const hit = (p: number | undefined) => {
      edge += p ?? 0;
      return roll < edge;
    };
    if (hit(mix.error5xx)) {
      stats.error5xx!++;
      const status = [500, 502, 503, 504][Math.floor(next() * 4)]!;
      req.resume();
      res
        .writeHead(status, { 'content-type': 'text/html' })
        .end(`<html><body>${status} from a flaky proxy</body></html>`);
      return;
    }
    if (hit(mix.rateLimit)) {
      stats.rateLimit!++;
      req.resume();
      // Docker Hub's 429 body is not JSON.
      res.writeHead(429, { 'retry-after': '1', 'content-type': 'text/plain' }).end('Too Many Requests');
      return;
    }
    if (hit(mix.reset)) {
      stats.reset!++;
      req.socket.destroy();
      return;
    }
    if (hit(mix.delay)) {
      stats.delay!++;
      setTimeout(() => forward(req, res, false), 200 + Math.floor(next() * 300));
      return;
    }
    const isBlobGet = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '');
    if (isBlobGet && hit(mix.cutBlob)) {
      stats.cutBlob!++;
      forward(req, res, true);
      return;
    }
    forward(req, res, false);
  });
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    forwarded,
    get connections() {
      return connections;
    },
    setMix(mix) {
      current = mix;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The HTTP channel from the sidecar to the app (Dapr `pkg/channel/http`): one keep-alive agent, the app
 * token header, and a deadline per call. Whether deliveries to the app are paused, because its health checks
 * find it unhealthy, it shares with the gRPC channel (`health-gate.ts`).
 */
import http from 'node:http';
import type { AppTarget } from '../blocks/app-target.js';
import { appCallHeaders } from './channel-headers.js';
import { HealthGate } from './health-gate.js';

/** The app's answer to one call. */
export interface AppResponse {
  readonly status: number;
  readonly body: Buffer;
  readonly headers: http.IncomingHttpHeaders;
}

/** Where the app listens and what every call to it carries. */
export interface AppChannelOptions {
  readonly host: string;
  readonly port: number;
  readonly appId: string;
  /** `APP_API_TOKEN`: sent as `dapr-api-token` on every call. */
  readonly appToken?: string;
  readonly maxSockets?: number;
}

/** The sidecar's HTTP channel to the app; see the module comment. */
export class AppChannel extends HealthGate implements AppTarget {
  readonly #agent: http.Agent;

  constructor(readonly opts: AppChannelOptions) {
    super();
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 128 });
  }

  /** Calls the app; rejects on network errors and when no answer came within `timeoutMs`. */
  request(method: string, path: string, body: Buffer | undefined, headers: Record<string, string>, timeoutMs: number): Promise<AppResponse> {
    const h = Object.fromEntries(appCallHeaders(headers, { appToken: this.opts.appToken, bodyLength: body?.length }));
    return new Promise((resolve, reject) => {
      const req = http.request({ host: this.opts.host, port: this.opts.port, method, path, headers: h, agent: this.#agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers });
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      });
      const timer = setTimeout(() => req.destroy(new Error(`the app did not answer ${method} ${path} within ${timeoutMs}ms`)), timeoutMs);
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

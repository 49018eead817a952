/**
 * The part of undici's `request` (`import { request } from 'undici'`) that the http capability uses, over
 * `node:http`, until undici is a dependency of mortar. Same call, same result shape, same behaviour where the
 * capability relies on it: no redirect is followed, no header is added but `host` and `content-length`, the
 * body is not decoded, `signal` aborts the request and its body. When undici is installed, `http.ts` imports
 * `request` from 'undici' instead (one line) and this file goes.
 *
 * Why not the global `fetch` (Node's own undici): it refuses `TRACE`, adds headers of its own (`accept`,
 * `accept-language`, `sec-fetch-mode`, `user-agent`, `accept-encoding`) and decodes gzip bodies while the
 * response still says `content-encoding: gzip`.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';

/** Options of `request`, as undici names them. */
export interface RequestOptions {
  method: string;
  /** Flat `[name, value, name, value, ...]`, as undici accepts them. */
  headers: string[];
  body?: Uint8Array;
  signal?: AbortSignal;
}

/** What `request` resolves to, as undici names it: headers lower-case, a repeated one as an array. */
export interface ResponseData {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Readable;
}

/** Sends one request; resolves once the response head arrived (the body is read from `body`). */
export function request(url: string | URL, options: RequestOptions): Promise<ResponseData> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < options.headers.length; i += 2) {
    const name = options.headers[i]!.toLowerCase();
    const value = options.headers[i + 1]!;
    const had = headers[name];
    headers[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
  }
  const client = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let req: http.ClientRequest;
    try {
      req = client.request(u, { method: options.method, headers, signal: options.signal }, (res) => {
        const out: Record<string, string | string[]> = {};
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i]!.toLowerCase();
          const value = res.rawHeaders[i + 1]!;
          const had = out[name];
          out[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
        }
        resolve({ statusCode: res.statusCode ?? 0, headers: out, body: res });
      });
    } catch (err) {
      reject(err);
      return;
    }
    req.on('error', reject);
    req.end(options.body && options.body.byteLength > 0 ? options.body : undefined);
  });
}

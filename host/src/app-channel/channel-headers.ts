/**
 * The headers a call to the app carries, shared by the HTTP channel (`http-channel.ts`) and the workload
 * channel (`workload-channel.ts`): the caller's headers with invalid names or values and the channel's own
 * headers left out (rather than failing the call), then `dapr-api-token` for `APP_API_TOKEN` and
 * `content-length` for a body.
 */

/** Characters a header value may carry. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * Headers only the channel sets: the message framing and connection handling (so metadata a publisher put on
 * a message cannot smuggle a second body or an upgrade into the app's connection), `host`, and the app token
 * (sent only when `APP_API_TOKEN` is set, never copied from a message). A caller's value for one is left out.
 */
export const CHANNEL_HEADERS: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'host',
  'dapr-api-token',
]);

/** How `appCallHeaders` treats one channel's calls. */
export interface AppCallHeaderOptions {
  /** `APP_API_TOKEN`: sent as `dapr-api-token`. */
  readonly appToken?: string;
  /** The body's length, sent as `content-length`; none without a body. */
  readonly bodyLength?: number;
  /** Lower-case the names (as `wasi:http` presents them); otherwise kept as given. */
  readonly lowerCase?: boolean;
  /** Names (lower case) left out besides `CHANNEL_HEADERS`. */
  readonly alsoLeftOut?: ReadonlySet<string>;
}

/** The headers of one call to the app, in order (see the module comment). */
export function appCallHeaders(headers: Record<string, string>, opts: AppCallHeaderOptions): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(headers)) {
    const lower = k.toLowerCase();
    if (HEADER_NAME.test(k) && HEADER_VALUE.test(v) && !CHANNEL_HEADERS.has(lower) && !opts.alsoLeftOut?.has(lower)) {
      out.push([opts.lowerCase ? lower : k, v]);
    }
  }
  if (opts.appToken) out.push(['dapr-api-token', opts.appToken]);
  if (opts.bodyLength !== undefined) out.push(['content-length', String(opts.bodyLength)]);
  return out;
}

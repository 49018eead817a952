/**
 * Requests no route of mortar's HTTP API matches: the Dapr building blocks mortar does not serve yet get
 * 501 `ERR_API_UNIMPLEMENTED` naming the route and the API (as daprd answers for an API it lacks), and
 * anything else a 404 naming the route. Both in Dapr's error format.
 */
import { MortarError } from '../../errors.js';
import { BUILDING_BLOCKS } from '../../building-blocks.js';

/**
 * Dapr's HTTP APIs, by the path segment after the version (`/v1.0`, `/v1.0-alpha1`, ...), with their names.
 * `metadata`, `healthz` and `shutdown` are the runtime's own and always served.
 */
const DAPR_HTTP_APIS: Readonly<Record<string, string>> = {
  state: 'state',
  publish: 'pub/sub',
  bindings: 'bindings',
  invoke: 'service invocation',
  secrets: 'secrets',
  configuration: 'configuration',
  lock: 'distributed lock',
  unlock: 'distributed lock',
  actors: 'actors',
  workflows: 'workflows',
  crypto: 'cryptography',
  jobs: 'jobs',
  conversation: 'conversation',
  subscribe: 'streaming subscriptions',
};

/**
 * The Dapr HTTP APIs mortar does not serve: every one no building block of the table serves (`httpApi`). A
 * wrong method or shape under a served one is a plain 404.
 */
export const UNSUPPORTED_APIS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(DAPR_HTTP_APIS).filter(([segment]) => !BUILDING_BLOCKS.some((b) => (b.httpApi as readonly string[]).includes(segment))),
);

/** Longest part of a path quoted in an answer or a log line: the rest is cut, so a huge URL stays small. */
const QUOTED_PATH_CHARS = 200;

/** The Dapr API an unmatched request asked for, or undefined when it is not one mortar lacks. */
export function unsupportedApi(path: string, headers: Readonly<Record<string, unknown>>): string | undefined {
  const m = /^\/v1\.0(?:-(?:alpha|beta)\d+)?\/([^/?]+)/.exec(path);
  const api = m ? UNSUPPORTED_APIS[m[1]!] : undefined;
  if (api) return api;
  // daprd sends any other request carrying `dapr-app-id` to service invocation.
  return headers['dapr-app-id'] !== undefined ? 'service invocation' : undefined;
}

/** The error for an unmatched request: 501 for an API mortar lacks, else 404; both name the route. */
export function unmatchedRouteError(
  method: string,
  url: string,
  headers: Readonly<Record<string, unknown>>,
  version: string,
): { error: MortarError; api?: string } {
  const path = url.split('?')[0]!;
  const route = `${method} ${path.length > QUOTED_PATH_CHARS ? `${path.slice(0, QUOTED_PATH_CHARS)}...` : path}`;
  const api = unsupportedApi(path, headers);
  if (api) return { api, error: new MortarError('ERR_API_UNIMPLEMENTED', [`${route}: ${api} is not supported by mortar ${version}`]) };
  return { error: new MortarError('ERR_BAD_REQUEST', [`no route ${route} in mortar ${version}`], { http: 404 }) };
}

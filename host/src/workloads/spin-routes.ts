/**
 * Spin's HTTP routing, as Spin 3.6 does it (`spin-http-routes`, over the `routefinder` 0.5 crate), and the
 * `spin-*` request headers its HTTP trigger sets (`spin-trigger-http` `headers.rs`).
 *
 * Routes: `/exact/path`, `:name` segments (one segment, captured), and a trailing `/...` (or `/*`) matching
 * the prefix itself and anything under it. A route is made absolute and loses one trailing `/`; a path loses
 * its leading and trailing slashes before matching, so `/foo/` is served by `/foo`. Precedence is routefinder's
 * order: segment by segment, exact text beats `:param` beats the wildcard, so an exact route beats a wildcard and
 * the longest wildcard prefix wins; routes of equal rank keep manifest order. The same route written twice is
 * kept once: the last trigger wins (Spin logs the duplicate). Paths are matched as sent (not percent-decoded).
 *
 * mortar refuses at start one thing routefinder accepts and then panics on while routing: a wildcard that does
 * not end the route (`/a/*\/b`).
 */

/** The prefix Spin reserves for itself (`/.well-known/spin/health`, `/.well-known/spin/info`). */
export const WELL_KNOWN_PREFIX = '/.well-known/spin/';

/**
 * `s` without its leading and trailing slashes, in one pass (a regex such as `/\/+$/` is quadratic on a long run
 * of slashes that does not end the string, and request paths come from clients).
 */
export function trimSlashes(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && s.charCodeAt(start) === 47) start++;
  while (end > start && s.charCodeAt(end - 1) === 47) end--;
  return s.slice(start, end);
}

type Segment = { k: 'slash' } | { k: 'dot' } | { k: 'exact'; s: string } | { k: 'param'; name: string } | { k: 'wildcard' };

/** routefinder's `RouteSpec::from_str`. */
function parseSpec(source: string): Segment[] {
  const trimmed = trimSlashes(source);
  const cuts: number[] = [];
  for (let i = 0; i < trimmed.length; i++) if (trimmed[i] === '.' || trimmed[i] === '/') cuts.push(i);
  cuts.push(trimmed.length);
  const acc: Segment[] = [];
  let last = 0;
  for (const index of cuts) {
    const first = last === 0 ? undefined : trimmed[last - 1];
    const section = trimmed.slice(last, index);
    last = index + 1;
    let seg: Segment | undefined;
    if (section === '*') seg = { k: 'wildcard' };
    else if (section.startsWith('*')) throw new Error(`since there can only be one wildcard, it doesn't need a name. replace \`${section}\` with \`*\``);
    else if (section === ':') throw new Error('params must be named');
    else if (section.startsWith(':')) seg = { k: 'param', name: section.slice(1) };
    else if (section !== '') seg = { k: 'exact', s: section };
    if (first === '.') {
      const prev = acc[acc.length - 1];
      if (prev?.k === 'exact') prev.s += '.';
      else acc.push({ k: 'dot' });
    }
    if (seg) {
      if (first === '/') acc.push({ k: 'slash' });
      acc.push(seg);
    }
  }
  return acc;
}

/** routefinder's `Segment::cmp`: 1 (self ranks first), 0, or -1. */
function segmentCmp(a: Segment, b: Segment): number {
  const sep = (s: Segment) => s.k === 'slash' || s.k === 'dot';
  if (a.k === b.k || (sep(a) && sep(b))) return 0;
  if (a.k === 'dot') return 1;
  if (a.k === 'exact') return 1;
  if (a.k === 'param') return b.k === 'exact' ? -1 : 1;
  if (a.k === 'wildcard') return b.k === 'exact' || b.k === 'param' ? -1 : 1;
  return -1;
}

/** routefinder's `RouteSpec::cmp` before its final `reverse()`: positive when `a` is tried before `b`. Never 0. */
function rank(a: readonly Segment[], b: readonly Segment[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = segmentCmp(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  const dots = (s: readonly Segment[]) => s.filter((x) => x.k === 'dot').length;
  const d = Math.sign(dots(a) - dots(b));
  if (d !== 0) return d;
  const l = Math.sign(b.length - a.length);
  return l !== 0 ? l : -1;
}

/**
 * routefinder's `RouteSpec::matches` on a path already passed through `trimSlashes`: the captures (params,
 * then the wildcard) or `undefined`.
 */
function specMatch(segments: readonly Segment[], trimmedPath: string): string[] | undefined {
  let path = trimmedPath;
  const captures: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const next = segments[i + 1];
    switch (seg.k) {
      case 'exact':
        if (!path.startsWith(seg.s)) return undefined;
        path = path.slice(seg.s.length);
        break;
      case 'param': {
        if (path === '') return undefined;
        if (next === undefined || next.k === 'slash') {
          const slash = path.indexOf('/');
          const cap = slash < 0 ? path : path.slice(0, slash);
          captures.push(cap);
          path = path.slice(cap.length);
        } else if (next.k === 'dot') {
          const idx = path.search(/[./]/);
          if (idx < 0 || path[idx] !== '.') return undefined;
          captures.push(path.slice(0, idx));
          path = path.slice(idx);
        } else return undefined; // not produced by the parser
        break;
      }
      case 'wildcard':
        captures.push(path);
        path = '';
        break;
      case 'slash':
        if (path.startsWith('/') && next !== undefined) path = path.slice(1);
        else if (!(path === '' && (next === undefined || next.k === 'wildcard'))) return undefined;
        break;
      case 'dot':
        if (!path.startsWith('.')) return undefined;
        path = path.slice(1);
        break;
    }
  }
  return path === '' || path === '/' ? captures : undefined;
}

/** What a route leads to: a component, or a trigger answered by the host (a static response). */
export type RouteTarget = { readonly component: string } | { readonly trigger: string };

/** One HTTP trigger's route, as the router takes it. */
export interface RouteEntry {
  readonly target: RouteTarget;
  /** The route as written in the manifest, or private (not routable). */
  readonly route: string | { readonly private: true };
}

interface Handler {
  readonly target: RouteTarget;
  /** The route made absolute without its trailing `/` (Spin's `based_route`; `/` becomes the empty string). */
  readonly basedRoute: string;
  /** The route as written. */
  readonly rawRoute: string;
  readonly wildcard: boolean;
  readonly segments: readonly Segment[];
  /** Names of the `:param` segments, in order. */
  readonly params: readonly string[];
}

/** A request path matched to a route. */
export interface RouteMatch {
  readonly target: RouteTarget;
  /** The route with the base (`spin-matched-route`). */
  readonly basedRoute: string;
  /** The route as written (`spin-raw-component-route`). */
  readonly rawRoute: string;
  /** The route without a trailing `/...` (`spin-component-route`). */
  readonly componentRoute: string;
  /** The `:param` captures, in route order. */
  readonly params: ReadonlyArray<readonly [string, string]>;
  /** The part the trailing wildcard matched (`spin-path-info`), as Spin gives it: `""`, `/`, `/a/b`, `/a/b/`. */
  readonly pathInfo: string;
}

/** A route written twice: `replaced` is no longer reachable. */
export interface DuplicateRoute {
  readonly route: string;
  readonly replaced: string;
  readonly effective: string;
}

const targetName = (t: RouteTarget) => ('component' in t ? t.component : t.trigger);

/** Spin's router over a manifest's HTTP triggers. */
export class SpinRouter {
  readonly #handlers: Handler[] = [];
  /** Routes written more than once (the last wins, as in Spin). */
  readonly duplicates: DuplicateRoute[] = [];

  /**
   * Builds the router; throws Spin's error for a route it cannot parse (or that mortar refuses). `entries` is
   * kept: the same router is made from it in another thread (`worker-trigger.ts`).
   */
  constructor(readonly entries: readonly RouteEntry[]) {
    const byRaw = new Map<string, { based: string; raw: string; target: RouteTarget }>();
    for (const e of entries) {
      if (typeof e.route !== 'string') continue; // private: reachable by service chaining only
      const based = basedRoute(e.route);
      const prev = byRaw.get(e.route);
      byRaw.set(e.route, { based, raw: e.route, target: e.target }); // a Map keeps the first insertion's place
      if (prev) this.duplicates.push({ route: prev.based === '' ? '/' : prev.based, replaced: targetName(prev.target), effective: targetName(e.target) });
    }
    for (const { based, raw, target } of byRaw.values()) {
      let spec: string;
      let wildcard = false;
      if (based.endsWith('/...')) {
        spec = `${based.slice(0, -4)}/*`;
        wildcard = true;
      } else if (based.endsWith('/*')) {
        spec = based;
        wildcard = true;
      } else spec = based;
      let segments: Segment[];
      try {
        segments = parseSpec(spec);
        const star = segments.findIndex((s) => s.k === 'wildcard');
        if (star >= 0 && star !== segments.length - 1) throw new Error('a wildcard (`/...` or `*`) must end the route');
      } catch (err) {
        throw new Error(`Error parsing route ${based} associated with component ${targetName(target)}: ${(err as Error).message}`);
      }
      const handler: Handler = {
        target,
        basedRoute: based,
        rawRoute: raw,
        wildcard,
        segments,
        params: segments.flatMap((s) => (s.k === 'param' ? [s.name] : [])),
      };
      // routefinder keeps its routes in a BTreeMap whose order never ties: a new route goes after every
      // route of equal rank, so equal ranks keep insertion order.
      let at = this.#handlers.findIndex((h) => rank(segments, h.segments) > 0);
      if (at < 0) at = this.#handlers.length;
      this.#handlers.splice(at, 0, handler);
    }
  }

  /** The routes in the order they are tried, as Spin lists them (`/foo (wildcard)`). */
  routes(): Array<{ target: RouteTarget; route: string; wildcard: boolean }> {
    return this.#handlers.map((h) => {
      const p = h.wildcard ? h.basedRoute.replace(/\/(\.\.\.|\*)$/, '') : h.basedRoute;
      return { target: h.target, route: p === '' ? '/' : p, wildcard: h.wildcard };
    });
  }

  /** True when a route lies under `/.well-known/spin/`, which Spin serves itself (such a route is never reached). */
  hasReservedRoute(): boolean {
    return this.#handlers.some((h) => h.basedRoute.startsWith(WELL_KNOWN_PREFIX));
  }

  /** The best route for `path` (the request target's path, query excluded), or `undefined`: Spin answers 404. */
  route(path: string): RouteMatch | undefined {
    const trimmed = trimSlashes(path);
    for (const h of this.#handlers) {
      const caps = specMatch(h.segments, trimmed);
      if (!caps) continue;
      const params = h.params.map((name, i) => [name, caps[i]!] as const);
      let pathInfo = '';
      if (h.segments[h.segments.length - 1]?.k === 'wildcard') {
        const s = caps[caps.length - 1]!;
        const slash = path.endsWith('/');
        pathInfo = s === '' ? (slash ? '/' : '') : slash ? `/${s}/` : `/${s}`;
      }
      return {
        target: h.target,
        basedRoute: h.basedRoute,
        rawRoute: h.rawRoute,
        componentRoute: h.rawRoute.endsWith('/...') ? h.rawRoute.slice(0, -4) : h.rawRoute,
        params,
        pathInfo,
      };
    }
    return undefined;
  }
}

/** Spin's `sanitize_with_base("/", route)`: absolute, one trailing `/` removed (`/` itself becomes empty). */
export function basedRoute(route: string): string {
  const abs = route.startsWith('/') ? route : `/${route}`;
  return abs.endsWith('/') ? abs.slice(0, -1) : abs;
}

/** What `spinHeaders` needs besides the match. */
export interface SpinRequestInfo {
  /** `http` (mortar's workload listener does not serve TLS). */
  readonly scheme: string;
  /** The `Host` header (Spin uses `localhost` without one). */
  readonly host: string | undefined;
  /** The request target's path and query, as sent. */
  readonly pathWithQuery: string;
  /** The client's address as `ip:port` (`[ip]:port` for IPv6). */
  readonly clientAddr: string;
}

/**
 * The headers Spin adds to every request it hands a component, in Spin's order: `spin-path-info`,
 * `spin-full-url`, `spin-matched-route`, `spin-base-path` (always `/`: the base is deprecated),
 * `spin-raw-component-route`, `spin-component-route`, `spin-client-addr`, then `spin-path-match-<name>` for
 * each `:name` (the name upper-cased by Spin, so lower case here, `_` written `-`).
 */
export function spinHeaders(m: RouteMatch, req: SpinRequestInfo): Array<[string, string]> {
  const out: Array<[string, string]> = [
    ['spin-path-info', m.pathInfo],
    ['spin-full-url', `${req.scheme}://${req.host ?? 'localhost'}${req.pathWithQuery}`],
    ['spin-matched-route', m.basedRoute],
    ['spin-base-path', '/'],
    ['spin-raw-component-route', m.rawRoute],
    ['spin-component-route', m.componentRoute],
    ['spin-client-addr', req.clientAddr],
  ];
  for (const [name, value] of m.params) {
    const header = `spin-path-match-${name.toUpperCase().replace(/_/g, '-').toLowerCase()}`;
    // Spin drops a header whose name is not a valid header name.
    if (/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(header)) out.push([header, value]);
  }
  return out;
}

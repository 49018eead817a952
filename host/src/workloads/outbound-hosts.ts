/**
 * `allowed_outbound_hosts` as Spin 3.6 reads and enforces it (`spin-outbound-networking-config`
 * `allowed_hosts.rs`), and the deprecated `allowed_http_hosts` as Spin converts it (`spin-manifest`
 * `compat`). An entry is `<scheme>://<host>[:<port>]`:
 *
 * - scheme: a name of letters, or `*` for any;
 * - host: a name or IP literal, `*` (any), `*.example.com` (any subdomain, not the domain itself), an IP
 *   network in CIDR form (`127.0.0.0/24`, `ff00::/8`), or `self` (`self.alt`): relative requests to the app itself;
 * - port: a number, a range `4000..5000` (end excluded, as Rust's `Range`), `*`, or nothing: the scheme's
 *   well-known port (http 80, https 443, redis 6379, postgres 5432, mysql 3306, mqtt 1883; others need one).
 *
 * An entry may hold `{{ variable }}` templates, resolved before it is parsed. `http://*.spin.internal` (service
 * chaining to every component) is expanded into one entry per component. An empty list allows nothing.
 */
import { isIP } from 'node:net';
import { isLiteral, parseTemplate, renderTemplate } from './spin-template.js';

/** The domain of Spin's service chaining (`http://<component>.spin.internal`). */
export const SERVICE_CHAINING_SUFFIX = '.spin.internal';

type HostKey = { kind: 'domain'; name: string } | { kind: 'ipv4'; addr: bigint } | { kind: 'ipv6'; addr: bigint };
type HostRule =
  | { kind: 'any' }
  | { kind: 'self' }
  | { kind: 'subdomain'; suffix: string }
  | { kind: 'literal'; host: HostKey }
  | { kind: 'cidr'; v6: boolean; network: bigint; prefix: number };
type PortRule = { kind: 'any' } | { kind: 'list'; ports: ReadonlyArray<{ from: number; to: number }> };

/** One parsed `allowed_outbound_hosts` entry. */
export interface AllowedHost {
  /** The entry as written (after template resolution). */
  readonly original: string;
  /** `undefined`: any scheme. */
  readonly scheme?: string;
  readonly host: HostRule;
  readonly port: PortRule;
}

const LEARN = 'Learn more: https://spinframework.dev/v3/http-outbound#granting-http-permissions-to-components';

/** Spin's `well_known_port`. */
export function wellKnownPort(scheme: string): number | undefined {
  return ({ postgres: 5432, mysql: 3306, redis: 6379, mqtt: 1883, http: 80, https: 443 } as Record<string, number>)[scheme];
}

/** Parses one entry (no templates left), with Spin's error messages. */
export function parseAllowedHost(entry: string): AllowedHost {
  const url = entry.trim();
  const sep = url.indexOf('://');
  if (sep < 0) {
    if (['*', ':', '', '?'].includes(url))
      throw new Error(
        `"${url}" is not an allowed outbound host format.\nHosts must be in the form <scheme>://<host>[:<port>], with '*' wildcards allowed for each.\nIf you intended to allow all outbound networking, you can use '*://*:*' - this will obviate all network sandboxing.\n${LEARN}`,
      );
    throw new Error(`"${url}" does not contain a scheme (e.g., 'http://' or '*://')\n${LEARN}`);
  }
  const scheme = url.slice(0, sep);
  const rest = url.slice(sep + 3);
  const colon = rest.lastIndexOf(':');
  const host = colon < 0 ? rest : rest.slice(0, colon);
  const afterHost = colon < 0 ? '' : rest.slice(colon + 1);
  const slash = afterHost.indexOf('/');
  if (slash >= 0 && afterHost.slice(slash + 1) !== '') throw new Error(`"${url}" has a path but is not allowed to`);
  const port = slash >= 0 ? afterHost.slice(0, slash) : afterHost;
  const portRule = within(`Invalid allowed host port "${port}"`, () => parsePort(port, scheme));
  const schemeRule = within(`Invalid allowed host scheme "${scheme}"`, () => parseScheme(scheme));
  const hostRule = within(`Invalid allowed host "${host}"`, () => parseHostRule(host));
  return { original: entry, scheme: schemeRule, host: hostRule, port: portRule };
}

function within<T>(context: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new Error(`${context}: ${(err as Error).message}`);
  }
}

function parseScheme(scheme: string): string | undefined {
  if (scheme === '*') return undefined;
  if (scheme.startsWith('{')) throw new Error('scheme lists are not supported');
  if (!/^\p{Alphabetic}*$/u.test(scheme)) throw new Error('only alphabetic characters are allowed');
  return scheme;
}

function parsePort(port: string, scheme: string): PortRule {
  if (port === '') {
    const p = wellKnownPort(scheme);
    if (p === undefined) throw new Error(`no port was provided and the scheme "${scheme}" does not have a known default port number`);
    return { kind: 'list', ports: [{ from: p, to: p + 1 }] };
  }
  if (port === '*') return { kind: 'any' };
  if (port.startsWith('{')) throw new Error('port lists are not yet supported');
  const range = port.indexOf('..');
  if (range >= 0) {
    const from = u16(port.slice(0, range));
    const to = u16(port.slice(range + 2));
    if (from === undefined || to === undefined) throw new Error(`port range "${port}" contains non-number`);
    return { kind: 'list', ports: [{ from, to }] };
  }
  const p = u16(port);
  if (p === undefined) throw new Error(`port "${port}" is not a number`);
  return { kind: 'list', ports: [{ from: p, to: p + 1 }] };
}

/** Rust's `u16::from_str`: digits (an optional leading `+`), at most 65535. */
function u16(s: string): number | undefined {
  if (!/^\+?\d+$/.test(s)) return undefined;
  const n = Number(s.replace(/^\+/, ''));
  return n <= 65535 ? n : undefined;
}

function parseHostRule(raw: string): HostRule {
  let host = raw.trim();
  if (host === '*') return { kind: 'any' };
  if (host === 'self' || host === 'self.alt') return { kind: 'self' };
  if (host.startsWith('{')) {
    if (!host.endsWith('}')) throw new Error("Condition failed: `host.ends_with('}')`");
    throw new Error('host lists are not yet supported');
  }
  const cidr = parseCidr(host);
  if (cidr) return cidr;
  while (host.endsWith('/')) host = host.slice(0, -1);
  if (host.includes('/')) throw new Error('must not include a path');
  if (host.startsWith('*.')) {
    const domain = host.slice(2);
    if (domain.includes('*')) throw new Error('wildcards are allowed only as prefixes');
    return { kind: 'subdomain', suffix: `.${domain}` };
  }
  if (host.includes('*')) throw new Error('wildcards are allowed only as subdomains');
  const key = parseHost(host);
  if (!key) throw new Error(`invalid host ${JSON.stringify(host)}`);
  return { kind: 'literal', host: key };
}

/** `ip_network::IpNetwork::from_str_truncate`: `<ip>/<prefix>`, host bits cleared. */
function parseCidr(s: string): HostRule | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  const kind = isIP(ip);
  if (kind === 4 && prefix <= 32) return { kind: 'cidr', v6: false, network: mask(ipv4(ip), 32, prefix), prefix };
  if (kind === 6 && prefix <= 128) return { kind: 'cidr', v6: true, network: mask(ipv6(ip), 128, prefix), prefix };
  return undefined;
}

function mask(addr: bigint, width: number, prefix: number): bigint {
  const m = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(width - prefix);
  return addr & m;
}

function ipv4(s: string): bigint {
  return s.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function ipv6(s: string): bigint {
  let text = s;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipv4(v4[1]!);
    text = `${text.slice(0, v4.index)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

const FORBIDDEN_HOST = /[\0\t\n\r #%/:<>?@[\\\]^|\x7f]|[\x00-\x1f]/;

/** The url crate's `Host::parse` (WHATWG host parsing for a special scheme), through Node's URL. */
function parseHost(host: string): HostKey | undefined {
  if (host.startsWith('[')) {
    if (!host.endsWith(']') || isIP(host.slice(1, -1)) !== 6) return undefined;
    return { kind: 'ipv6', addr: ipv6(host.slice(1, -1)) };
  }
  if (host === '' || FORBIDDEN_HOST.test(host)) return undefined;
  let name: string;
  try {
    name = new URL(`http://${host}/`).hostname;
  } catch {
    return undefined;
  }
  if (isIP(name) === 4) return { kind: 'ipv4', addr: ipv4(name) };
  return { kind: 'domain', name };
}

function sameHost(a: HostKey, b: HostKey): boolean {
  if (a.kind === 'domain' || b.kind === 'domain') return a.kind === b.kind && (a as { name: string }).name === (b as { name: string }).name;
  return a.kind === b.kind && a.addr === b.addr;
}

/** A URL a component asks to reach, as Spin's `OutboundUrl` reads it. */
export interface OutboundUrl {
  readonly scheme: string;
  readonly host: string;
  /** `undefined`: the scheme's default (a URL stating the default port of a special scheme has none). */
  readonly port?: number;
}

/**
 * Spin's `OutboundUrl::parse`: the URL as given, or, when that has no host (`example.com:8383`), with
 * `<scheme>://` in front. The user info is percent-encoded first, so a `#` or `@` in a password is no obstacle.
 */
export function parseOutboundUrl(url: string, scheme: string): OutboundUrl {
  let text = url;
  const at = text.indexOf('@');
  if (at >= 0) {
    const sep = text.indexOf('://');
    const start = sep >= 0 ? sep + 3 : 0;
    const slash = text.indexOf('/', start);
    if (slash < 0 || at < slash) {
      const userinfo = text.slice(start, at);
      text = `${text.slice(0, start)}${encodeURIComponent(userinfo).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}${text.slice(at)}`;
    }
  }
  let parsed: URL | undefined;
  let firstError: Error | undefined;
  try {
    parsed = new URL(text);
    if (parsed.hostname === '') parsed = undefined;
  } catch (err) {
    firstError = err as Error;
  }
  if (!parsed) {
    try {
      parsed = new URL(`${scheme}://${text}`);
    } catch (err) {
      throw firstError ?? (err as Error);
    }
  }
  if (parsed.hostname === '') throw new Error(`"${text}" does not have a host component`);
  return { scheme: parsed.protocol.slice(0, -1), host: parsed.hostname, port: parsed.port === '' ? undefined : Number(parsed.port) };
}

function hostAllows(rule: HostRule, hostText: string): boolean {
  const host = parseHost(hostText);
  if (!host) return false;
  switch (rule.kind) {
    case 'any':
      return true;
    case 'subdomain':
      return host.kind === 'domain' && host.name.endsWith(rule.suffix);
    case 'literal':
      return sameHost(rule.host, host);
    case 'cidr':
      if (host.kind === 'domain' || (host.kind === 'ipv6') !== rule.v6) return false;
      return mask(host.addr, rule.v6 ? 128 : 32, rule.prefix) === rule.network;
    case 'self':
      return false;
  }
}

function portAllows(rule: PortRule, port: number | undefined, scheme: string): boolean {
  if (rule.kind === 'any') return true;
  const p = port ?? wellKnownPort(scheme);
  return p !== undefined && rule.ports.some((r) => p >= r.from && p < r.to);
}

/** True when `entry` lets a component reach `url`. */
export function hostAllowsUrl(entry: AllowedHost, url: OutboundUrl): boolean {
  return (entry.scheme === undefined || entry.scheme === url.scheme) && hostAllows(entry.host, url.host) && portAllows(entry.port, url.port, url.scheme);
}

/** A component's whole `allowed_outbound_hosts`, resolved and parsed. */
export class AllowedHosts {
  constructor(readonly entries: readonly AllowedHost[]) {}

  /**
   * Spin's `check_url`: may the component reach `url`? (`scheme` completes a URL written without one.) A URL
   * that cannot be parsed is refused.
   */
  allows(url: string, scheme: string): boolean {
    let parsed: OutboundUrl;
    try {
      parsed = parseOutboundUrl(url, scheme);
    } catch {
      return false;
    }
    return this.entries.some((e) => hostAllowsUrl(e, parsed));
  }

  /** Spin's `check_relative_url`: may the component send a request with no authority (to the app itself)? */
  allowsRelative(schemes: readonly string[]): boolean {
    return this.entries.some((e) => schemes.some((s) => e.scheme === undefined || e.scheme === s) && (e.host.kind === 'any' || e.host.kind === 'self'));
  }
}

/**
 * Parses a component's entries: templates are filled in with `variable(name)` (which throws for an unknown
 * or unset variable), `http://*.spin.internal` is expanded to one entry per id of `componentIds`. Throws the
 * first bad entry's error, naming the entry.
 */
export function parseAllowedHosts(entries: readonly string[], variable: (name: string) => string, componentIds: readonly string[]): AllowedHosts {
  if (entries.length === 1 && entries[0] === 'insecure:allow-all')
    throw new Error("'insecure:allow-all' is not allowed - use '*://*:*' instead if you really want to allow all outbound traffic'");
  const out: AllowedHost[] = [];
  for (const entry of entries) {
    const t = parseTemplate(entry);
    const text = isLiteral(t) ? entry : renderTemplate(t, variable);
    let parsed: AllowedHost;
    try {
      parsed = parseAllowedHost(text);
    } catch (err) {
      const via = text === entry ? '' : ` (from the template "${entry}")`;
      throw new Error(`"${text}"${via}: ${(err as Error).message}`);
    }
    if (parsed.host.kind === 'subdomain' && parsed.host.suffix === SERVICE_CHAINING_SUFFIX) {
      for (const id of componentIds) out.push({ ...parsed, host: { kind: 'literal', host: { kind: 'domain', name: `${id}${SERVICE_CHAINING_SUFFIX}` } } });
    } else out.push(parsed);
  }
  return new AllowedHosts(out);
}

/**
 * The component a service-chaining host names (`api.spin.internal[:port]` -> `api`), as Spin's
 * `parse_service_chaining_host`; `undefined` for any other host.
 */
export function serviceChainingTarget(host: string): string | undefined {
  const colon = host.lastIndexOf(':');
  const name = colon < 0 ? host : host.slice(0, colon);
  const dot = name.indexOf('.');
  if (dot < 0) return undefined;
  return name.slice(dot + 1) === SERVICE_CHAINING_SUFFIX.slice(1) ? name.slice(0, dot) : undefined;
}

/**
 * The deprecated `allowed_http_hosts`, converted to `allowed_outbound_hosts` entries as Spin does for a
 * version 2 manifest: `insecure:allow-all` is `http://*:*`, `https://*:*` and `http://self`; `self` is
 * `http://self`; any other host (`example.com`, `example.com:8080`, `https://example.com`) allows both HTTP and
 * HTTPS on that host (and port). Throws Spin's message listing every bad entry.
 */
export function convertAllowedHttpHosts(hosts: readonly string[]): string[] {
  if (hosts.includes('insecure:allow-all')) return ['http://*:*', 'https://*:*', 'http://self'];
  const out: string[] = [];
  const errors: string[] = [];
  for (const text of hosts) {
    const r = parseHttpHost(text);
    if (typeof r === 'string') errors.push(r);
    else if (r.domain === 'self') out.push('http://self');
    else {
      const port = r.port === undefined ? '' : `:${r.port}`;
      out.push(`http://${r.domain}${port}`, `https://${r.domain}${port}`);
    }
  }
  if (errors.length > 0) throw new Error(`One or more allowed_http_hosts entries was invalid:\n${errors.join('\n')}`);
  return out;
}

function parseHttpHost(text: string): { domain: string; port?: number } | string {
  let url: URL;
  if (text.includes('//')) {
    try {
      url = new URL(text);
    } catch (err) {
      return `${text} isn't a valid HTTP host URL: ${(err as Error).message}`;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${text} isn't a valid host or host:port string`;
  } else {
    try {
      url = new URL(`http://${text}`);
    } catch {
      return `${text} isn't a valid host or host:port string`;
    }
  }
  if (url.hostname === '') return `${text} doesn't contain a host name`;
  if (url.pathname.length > 1) return `${text} contains a path, should be host and optional port only`;
  return { domain: url.hostname, port: url.port === '' ? undefined : Number(url.port) };
}

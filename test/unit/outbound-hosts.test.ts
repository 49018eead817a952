/**
 * `allowed_outbound_hosts` and the deprecated `allowed_http_hosts`, on the cases of Spin 3.6's own tests
 * (`crates/outbound-networking-config/src/allowed_hosts.rs`, `crates/manifest/src/compat/allowed_http_hosts.rs`).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  convertAllowedHttpHosts,
  parseAllowedHost,
  parseAllowedHosts,
  parseOutboundUrl,
  serviceChainingTarget,
} from '../../host/src/workloads/outbound-hosts.js';

const noVars = (name: string): string => {
  throw new Error(`unknown variable "${name}"`);
};
const hosts = (...entries: string[]) => parseAllowedHosts(entries, noVars, []);
const shape = (e: string) => {
  const h = parseAllowedHost(e);
  return { scheme: h.scheme ?? '*', host: h.host, port: h.port };
};

describe('allowed_outbound_hosts entries', () => {
  it('a host without a port takes the scheme`s well-known port; a trailing slash is dropped', () => {
    assert.deepEqual(shape('http://spin.fermyon.dev').port, { kind: 'list', ports: [{ from: 80, to: 81 }] });
    assert.deepEqual(shape('http://spin.fermyon.dev/'), shape('http://spin.fermyon.dev'));
    assert.deepEqual(shape('https://spin.fermyon.dev').port, { kind: 'list', ports: [{ from: 443, to: 444 }] });
    assert.deepEqual(shape('redis://cache').port, { kind: 'list', ports: [{ from: 6379, to: 6380 }] });
    assert.throws(() => parseAllowedHost('tcp://db'), /no port was provided and the scheme "tcp" does not have a known default port number/);
  });

  it('ports, port ranges (end excluded) and * ports', () => {
    assert.deepEqual(shape('http://spin.fermyon.dev:4444').port, { kind: 'list', ports: [{ from: 4444, to: 4445 }] });
    assert.deepEqual(shape('http://spin.fermyon.dev:4444/'), shape('http://spin.fermyon.dev:4444'));
    assert.deepEqual(shape('http://spin.fermyon.dev:4444..5555').port, { kind: 'list', ports: [{ from: 4444, to: 5555 }] });
    assert.deepEqual(shape('*://*:*'), { scheme: '*', host: { kind: 'any' }, port: { kind: 'any' } });
    const range = hosts('http://h:4444..5555');
    assert.ok(range.allows('http://h:4444/', 'http'));
    assert.ok(range.allows('http://h:5554/', 'http'));
    assert.ok(!range.allows('http://h:5555/', 'http'), 'the end of a range is excluded, as Rust`s Range');
    assert.throws(() => parseAllowedHost('http://h:abc'), /Invalid allowed host port "abc": port "abc" is not a number/);
    assert.throws(() => parseAllowedHost('http://h:1..x'), /port range "1..x" contains non-number/);
    assert.throws(() => parseAllowedHost('http://h:{80,443}'), /port lists are not yet supported/);
  });

  it('refuses an entry without a scheme, with a path, or with misplaced wildcards, in Spin`s words', () => {
    assert.throws(() => parseAllowedHost('spin.fermyon.dev'), /"spin.fermyon.dev" does not contain a scheme/);
    assert.throws(() => parseAllowedHost('spin.fermyon.dev:80'), /does not contain a scheme/);
    assert.throws(() => parseAllowedHost('*'), /"\*" is not an allowed outbound host format/);
    assert.throws(() => parseAllowedHost('http://spin.fermyon.dev/a'), /Invalid allowed host "spin.fermyon.dev\/a": must not include a path/);
    assert.throws(() => parseAllowedHost('http://spin.fermyon.dev:6666/a/b'), /has a path but is not allowed to/);
    assert.throws(() => parseAllowedHost('http://*.fermyon.dev/a'), /must not include a path/);
    assert.throws(() => parseAllowedHost('http://a.*.dev'), /wildcards are allowed only as subdomains/);
    assert.throws(() => parseAllowedHost('http://*.a.*.dev'), /wildcards are allowed only as prefixes/);
    assert.throws(() => parseAllowedHost('ht-tp://h:80'), /Invalid allowed host scheme "ht-tp": only alphabetic characters are allowed/);
    assert.throws(() => parseAllowedHost('{http,https}://h:80'), /scheme lists are not supported/);
    assert.throws(
      () => parseAllowedHost('http://[::1]'),
      /port "1\]" is not a number/,
      'an IPv6 literal needs its port (the last colon is the port separator)',
    );
  });

  it('"insecure:allow-all" is refused alone (use *://*:*) and as a scheme-less entry among others', () => {
    assert.throws(() => hosts('insecure:allow-all'), /'insecure:allow-all' is not allowed - use '\*:\/\/\*:\*' instead/);
    assert.throws(() => hosts('http://spin.fermyon.dev', 'insecure:allow-all'), /does not contain a scheme/);
  });

  it('specific hosts allow only their scheme, host and port (test_allowed_hosts_can_be_specific)', () => {
    const a = hosts('*://spin.fermyon.dev:443', 'http://example.com:8383');
    assert.ok(a.allows('http://example.com:8383/foo/bar', 'http'));
    assert.ok(a.allows('https://spin.fermyon.dev', 'https'));
    assert.ok(a.allows('https://spin.fermyon.dev/', 'https'));
    assert.ok(!a.allows('http://example.com/', 'http'));
    assert.ok(!a.allows('http://google.com/', 'http'));
    assert.ok(a.allows('spin.fermyon.dev:443', 'https'), 'a URL without a scheme gets the given one');
    assert.ok(a.allows('example.com:8383', 'http'));
    assert.ok(!hosts().allows('https://spin.fermyon.dev/', 'https'), 'an empty list allows nothing');
    assert.ok(!a.allows('not a url', 'http'));
  });

  it('*.domain allows every subdomain, not the domain itself (test_allowed_hosts_can_be_subdomain_wildcards)', () => {
    const a = hosts('http://*.example.com', 'http://*.example2.com:8383');
    assert.ok(a.allows('http://a.example.com/foo/bar', 'http'));
    assert.ok(a.allows('http://a.b.example.com/foo/bar', 'http'));
    assert.ok(a.allows('http://a.b.example2.com:8383/foo/bar', 'http'));
    assert.ok(!a.allows('http://a.b.example2.com/foo/bar', 'http'));
    assert.ok(!a.allows('http://example.com/foo/bar', 'http'));
    assert.ok(!a.allows('http://example.com:8383/foo/bar', 'http'));
    assert.ok(!a.allows('http://myexample.com/foo/bar', 'http'));
  });

  it('IP literals and CIDR ranges (test_allowed_hosts_accepts_ip_addresses, test_cidr)', () => {
    assert.ok(hosts('http://192.168.1.1').allows('http://192.168.1.1/', 'http'));
    assert.ok(hosts('http://192.168.1.1:3002').allows('http://192.168.1.1:3002/', 'http'));
    assert.ok(hosts('http://[::1]:8001').allows('http://[::1]:8001/x', 'http'));
    assert.ok(!hosts('http://[::1]:8001').allows('http://[::2]:8001/x', 'http'));
    assert.ok(hosts('*://127.0.0.1/24:63551').allows('tcp://127.0.0.1:63551', 'tcp'));
    assert.ok(hosts('*://127.0.0.0/24:80').allows('http://127.0.0.200/', 'http'));
    assert.ok(!hosts('*://127.0.0.0/24:80').allows('http://127.0.1.1/', 'http'));
    assert.ok(!hosts('*://127.0.0.0/24:80').allows('http://localhost/', 'http'), 'a CIDR range matches no domain');
    assert.ok(hosts('*://ff00::/8:80').allows('http://[ff01::1]/', 'http'));
    assert.throws(() => parseAllowedHost('*://127.0.0.0/24'), /no port was provided and the scheme "\*"/);
    assert.ok(hosts('http://localhost:3001').allows('http://localhost:3001/', 'http'));
  });

  it('user info in a URL does not hide its host (outbound_url_handles_at_in_paths, test_hash_char_in_db_password)', () => {
    assert.equal(parseOutboundUrl('https://example.com/file@0.1.0.json', 'https').host, 'example.com');
    assert.equal(parseOutboundUrl('https://user:password@example.com/file@0.1.0.json', 'https').host, 'example.com');
    assert.equal(parseOutboundUrl('https://user:pass#word@example.com/file@0.1.0.json', 'https').host, 'example.com');
    assert.equal(parseOutboundUrl('https://user:password@example.com', 'https').host, 'example.com');
    const mysql = hosts('mysql://xyz.com');
    assert.ok(mysql.allows('mysql://user:pass#word@xyz.com', 'mysql'));
    assert.ok(mysql.allows('mysql://user%3Apass%23word@xyz.com', 'mysql'));
    assert.ok(mysql.allows('user%3Apass%23word@xyz.com', 'mysql'));
  });

  it('self allows relative requests only; * hosts allow them too', () => {
    const self = hosts('http://self');
    assert.ok(self.allowsRelative(['http']));
    assert.ok(!self.allowsRelative(['https']));
    assert.ok(!self.allows('http://self/', 'http'), 'self is not a host name');
    assert.ok(hosts('*://*:*').allowsRelative(['https']));
    assert.ok(!hosts('https://example.com').allowsRelative(['https']));
  });

  it('{{ variable }} templates are filled in before parsing; a bad result names the template', () => {
    const vars = (n: string) => ({ api_host: 'api.example.com', bad: 'no-scheme' })[n as 'api_host' | 'bad'] ?? noVars(n);
    const a = parseAllowedHosts(['https://{{ api_host }}'], vars, []);
    assert.ok(a.allows('https://api.example.com/v1', 'https'));
    assert.throws(() => parseAllowedHosts(['{{ bad }}'], vars, []), /"no-scheme" \(from the template "\{\{ bad \}\}"\): "no-scheme" does not contain a scheme/);
    assert.throws(() => parseAllowedHosts(['https://{{ nope }}'], vars, []), /unknown variable "nope"/);
  });

  it('http://*.spin.internal expands to every component (expand_wildcard_service_chaining_lists_all_components)', () => {
    const a = parseAllowedHosts(['pg://localhost:5656', 'http://*.spin.internal', 'https://spinframework.dev'], noVars, ['first', 'second', 'third']);
    assert.equal(a.entries.length, 5);
    assert.ok(a.allows('http://second.spin.internal/', 'http'));
    assert.ok(!a.allows('http://fourth.spin.internal/', 'http'));
    assert.equal(serviceChainingTarget('first.spin.internal:80'), 'first');
    assert.equal(serviceChainingTarget('first.example.com'), undefined);
  });
});

describe('allowed_http_hosts (deprecated)', () => {
  it('converts hosts to http and https entries, self to http://self, insecure:allow-all to everything HTTP', () => {
    assert.deepEqual(convertAllowedHttpHosts(['spin.fermyon.dev']), ['http://spin.fermyon.dev', 'https://spin.fermyon.dev']);
    assert.deepEqual(convertAllowedHttpHosts(['spin.fermyon.dev:7777']), ['http://spin.fermyon.dev:7777', 'https://spin.fermyon.dev:7777']);
    assert.deepEqual(convertAllowedHttpHosts(['https://spin.fermyon.dev:5555/']), ['http://spin.fermyon.dev:5555', 'https://spin.fermyon.dev:5555']);
    assert.deepEqual(convertAllowedHttpHosts(['[::1]']), ['http://[::1]', 'https://[::1]']);
    assert.deepEqual(convertAllowedHttpHosts(['self']), ['http://self']);
    assert.deepEqual(convertAllowedHttpHosts(['spin.fermyon.dev', 'insecure:allow-all']), ['http://*:*', 'https://*:*', 'http://self']);
  });

  it('refuses paths and non-HTTP URLs, listing every bad entry', () => {
    assert.throws(
      () => convertAllowedHttpHosts(['http://spin.fermyon.dev/a', 'ftp://spin.fermyon.dev', 'ok.example.com']),
      (e: Error) =>
        e.message.startsWith('One or more allowed_http_hosts entries was invalid:\n') &&
        e.message.includes('http://spin.fermyon.dev/a contains a path') &&
        e.message.includes("ftp://spin.fermyon.dev isn't a valid host or host:port string"),
    );
  });
});

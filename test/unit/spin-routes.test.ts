/**
 * Spin's HTTP routing and request headers, checked on the cases of Spin 3.6's own tests
 * (`crates/routes/src/lib.rs` `route_tests`, `crates/trigger-http/src/headers.rs` tests) and routefinder's
 * precedence rules.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SpinRouter, spinHeaders, type RouteEntry } from '../../host/src/workloads/spin-routes.js';

const router = (routes: Array<[string, string]>) => new SpinRouter(routes.map(([c, r]): RouteEntry => ({ target: { component: c }, route: r })));
const who = (r: SpinRouter, path: string) => {
  const m = r.route(path);
  return m && 'component' in m.target ? m.target.component : undefined;
};

describe('Spin routes', () => {
  it('exact routes match their own path only (test_router_exact), a trailing slash in the path included', () => {
    const r = router([
      ['foo', '/foo'],
      ['foobar', '/foo/bar'],
    ]);
    assert.equal(who(r, '/foo'), 'foo');
    assert.equal(who(r, '/foo/bar'), 'foobar');
    assert.equal(who(r, '/foo/'), 'foo');
    assert.equal(who(r, '/foo/baz'), undefined);
    assert.equal(who(r, '/'), undefined);
  });

  it('leading and trailing slashes of a path are ignored, however many (routefinder trims them), inner ones are not', () => {
    const r = router([['foo', '/foo/bar']]);
    assert.equal(who(r, `${'/'.repeat(10_000)}foo/bar${'/'.repeat(10_000)}`), 'foo');
    assert.equal(who(r, '/foo//bar'), undefined);
  });

  it('a /... route matches its prefix and everything under it, / included (test_router_wildcard)', () => {
    const r = router([['all', '/...']]);
    for (const p of ['/foo/bar', '/abc/', '/', '/this/should/be/captured']) assert.equal(who(r, p), 'all', p);
  });

  it('the longest wildcard prefix wins, whatever the manifest order (test_router_respects_longest_match)', () => {
    const routes: Array<[string, string]> = [
      ['one_wildcard', '/one/...'],
      ['onetwo_wildcard', '/one/two/...'],
      ['onetwothree_wildcard', '/one/two/three/...'],
    ];
    assert.equal(who(router(routes), '/one/two/three/four'), 'onetwothree_wildcard');
    assert.equal(who(router([...routes].reverse()), '/one/two/three/four'), 'onetwothree_wildcard');
    assert.equal(who(router(routes), '/one/two'), 'onetwo_wildcard');
    assert.equal(who(router(routes), '/one'), 'one_wildcard');
  });

  it('an exact route beats a wildcard, and a :param beats a wildcard but not an exact segment', () => {
    assert.equal(
      who(
        router([
          ['wildcard', '/...'],
          ['one_exact', '/one'],
        ]),
        '/one',
      ),
      'one_exact',
    );
    const r = router([
      ['all', '/...'],
      ['param', '/users/:id'],
      ['me', '/users/me'],
    ]);
    assert.equal(who(r, '/users/me'), 'me');
    assert.equal(who(r, '/users/42'), 'param');
    assert.equal(who(r, '/users/42/x'), 'all');
  });

  it('a route written twice is kept once and the last trigger wins; the duplicate is reported (duplicate_routes_last_one_wins)', () => {
    const r = router([
      ['comp-/', '/'],
      ['comp-first /foo', '/foo'],
      ['comp-second /foo', '/foo'],
      ['comp-/whee/...', '/whee/...'],
    ]);
    assert.equal(r.routes().length, 3);
    assert.equal(who(r, '/foo'), 'comp-second /foo');
    assert.deepEqual(r.duplicates, [{ route: '/foo', replaced: 'comp-first /foo', effective: 'comp-second /foo' }]);
    const root = router([
      ['a', '/'],
      ['b', '/'],
    ]);
    assert.deepEqual(root.duplicates[0], { route: '/', replaced: 'a', effective: 'b' }, 'the root route is reported as /');
  });

  it('private routes are not routable (unroutable_routes_are_skipped)', () => {
    const r = new SpinRouter([
      { target: { component: 'comp-/' }, route: '/' },
      { target: { component: 'comp-private' }, route: { private: true } },
    ]);
    assert.equal(r.routes().length, 1);
    assert.equal(who(r, '/'), 'comp-/');
  });

  it('spin-path-info is the wildcard part with Spin trailing-slash rules (trailing_wildcard_respects_trailing_slash)', () => {
    const r = router([['comp', '/test/...']]);
    assert.equal(r.route('/test')!.pathInfo, '');
    assert.equal(r.route('/test/')!.pathInfo, '/');
    assert.equal(r.route('/test/hello')!.pathInfo, '/hello');
    assert.equal(r.route('/test/hello/')!.pathInfo, '/hello/');
    assert.equal(router([['comp', '/...']]).route('/1/2/3')!.pathInfo, '/1/2/3');
    assert.equal(router([['comp', '/1/...']]).route('/1/2/3')!.pathInfo, '/2/3');
    assert.equal(router([['comp', '/exact']]).route('/exact')!.pathInfo, '', 'an exact route has no path info');
  });

  it(':param segments capture one segment (named_wildcard_is_captured); `*` is Spin`s other wildcard spelling', () => {
    assert.deepEqual(router([['c', '/1/:two/3']]).route('/1/2/3')!.params, [['two', '2']]);
    assert.deepEqual(router([['c', '/1/:two/...']]).route('/1/2/3')!.params, [['two', '2']]);
    assert.equal(router([['c', '/1/:two/3']]).route('/1/2/x/3'), undefined);
    assert.equal(router([['c', '/files/*']]).route('/files/a/b')!.pathInfo, '/a/b');
  });

  it('refuses routes routefinder cannot parse or would panic on, naming route and component', () => {
    assert.throws(() => router([['c', '/a/*name']]), /Error parsing route \/a\/\*name associated with component c: since there can only be one wildcard/);
    assert.throws(() => router([['c', '/a/:/b']]), /associated with component c: params must be named/);
    assert.throws(() => router([['c', '/a/*/b']]), /a wildcard \(`\/\.\.\.` or `\*`\) must end the route/);
  });

  it('routes under /.well-known/spin/ are reported as unreachable (reserved_routes_are_reserved)', () => {
    assert.ok(router([['c', '/.well-known/spin/...']]).hasReservedRoute());
    assert.ok(router([['c', '/.well-known/spin/fie']]).hasReservedRoute());
    assert.ok(!router([['c', '/.well-known/spindle/...']]).hasReservedRoute());
    assert.ok(!router([['c', '/.well-known/spin']]).hasReservedRoute());
  });

  it('lists routes as Spin prints them (wildcards without /..., / for the root) in the order tried (order_of_reachable_routes_is_preserved)', () => {
    const r = router([
      ['comp-/', '/'],
      ['comp-/foo', '/foo'],
      ['comp-/bar', 'bar/'],
      ['comp-/whee/...', '/whee/...'],
    ]);
    assert.deepEqual(
      r.routes().map((x) => `${'component' in x.target ? x.target.component : ''} ${x.route}${x.wildcard ? ' (wildcard)' : ''}`),
      ['comp-/ /', 'comp-/foo /foo', 'comp-/bar /bar', 'comp-/whee/... /whee (wildcard)'],
    );
  });
});

describe('Spin request headers', () => {
  const info = (path: string) => ({ scheme: 'https', host: 'fermyon.dev', pathWithQuery: `${path}?key1=value1&key2=value2`, clientAddr: '127.0.0.1:8777' });

  it('a wildcard route gives the headers of test_default_headers', () => {
    const m = router([['DUMMY', '/foo/...']]).route('/foo/bar')!;
    assert.deepEqual(spinHeaders(m, info('/foo/bar')), [
      ['spin-path-info', '/bar'],
      ['spin-full-url', 'https://fermyon.dev/foo/bar?key1=value1&key2=value2'],
      ['spin-matched-route', '/foo/...'],
      ['spin-base-path', '/'],
      ['spin-raw-component-route', '/foo/...'],
      ['spin-component-route', '/foo'],
      ['spin-client-addr', '127.0.0.1:8777'],
    ]);
  });

  it('named wildcards add spin-path-match-<name> (test_default_headers_with_named_wildcards)', () => {
    const m = router([['DUMMY', '/foo/:userid/...']]).route('/foo/42/bar')!;
    const h = new Map(spinHeaders(m, info('/foo/42/bar')));
    assert.equal(h.get('spin-path-info'), '/bar');
    assert.equal(h.get('spin-matched-route'), '/foo/:userid/...');
    assert.equal(h.get('spin-component-route'), '/foo/:userid');
    assert.equal(h.get('spin-path-match-userid'), '42');
    const snake = new Map(spinHeaders(router([['c', '/u/:user_id']]).route('/u/7')!, info('/u/7')));
    assert.equal(snake.get('spin-path-match-user-id'), '7', 'SPIN_PATH_MATCH_USER_ID becomes spin-path-match-user-id');
  });

  it('the root route has an empty spin-matched-route (Spin`s based route of /), a raw route of /, and localhost stands in for a missing Host', () => {
    const m = router([['c', '/']]).route('/')!;
    const h = new Map(spinHeaders(m, { scheme: 'http', host: undefined, pathWithQuery: '/', clientAddr: '[::1]:5' }));
    assert.equal(h.get('spin-matched-route'), '');
    assert.equal(h.get('spin-raw-component-route'), '/');
    assert.equal(h.get('spin-component-route'), '/');
    assert.equal(h.get('spin-full-url'), 'http://localhost/');
    assert.equal(h.get('spin-client-addr'), '[::1]:5');
  });
});

/**
 * The `mortar:host/http` and `mortar:host/directory` capabilities, driven through a real sandboxed component
 * (test/fixtures/components/host-probe) loaded as the runtime loads one, with the capabilities on their own
 * thread: against local HTTP servers and a temporary directory, never a mock.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { TranspileCache } from '../../host/src/components/transpile-cache.js';
import { ComponentLoader } from '../../host/src/components/component-types.js';
import { ComponentRegistry } from '../../host/src/components/registry.js';
import { CapabilityThread } from '../../host/src/capabilities/capability-thread.js';
import { CAPABILITY_LIMITS } from '../../host/src/capabilities/limits.js';
import { TEST_COMPONENTS, tempDir } from '../helpers/sidecar.js';

/** Log lines of the run, parsed (the capability thread's refusals among them). */
const lines: Array<{ msg: string; level: number }> = [];
const logger = pino(
  { level: 'warn' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as { msg: string; level: number });
      done();
    },
  }),
);

const enc = (v: unknown) => new Uint8Array(Buffer.from(JSON.stringify(v)));
type Answer<T = unknown> = { ok?: T; err?: { tag: string; val: string } };

/** Starts an HTTP server on a free port; resolves with it and its base URL. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}` };
}

describe('host capabilities http and directory, through a sandboxed component', () => {
  const dataDir = tempDir('host-cap');
  const capabilities = new CapabilityThread(dataDir, logger);
  const loader = new ComponentLoader(new TranspileCache(join(dataDir, 'cache')), logger, 5000, 128 * 1024 * 1024);
  const registry = new ComponentRegistry({ appId: 'hostcap', capabilities, logger, poolSize: 2, callTimeoutMs: 5000, memoryLimitBytes: 128 * 1024 * 1024 });
  const root = tempDir('host-cap-root');
  const outside = tempDir('host-cap-outside');
  const secret = join(outside, 'secret.txt');
  const big = CAPABILITY_LIMITS.httpResponseBodyBytes + 1024;
  let granted: { server: Server; url: string };
  let other: { server: Server; url: string };
  let otherHits = 0;
  let echoHits = 0;
  const hanging: ServerResponse[] = [];

  const invoke = async <T>(operation: string, ask: unknown, timeoutMs?: number): Promise<Answer<T>> => {
    const r = (await registry.get('probe')!.pool.call('outputBinding', 'invoke', [{ operation, data: enc(ask), metadata: [] }], timeoutMs)) as {
      data: Uint8Array;
    };
    return JSON.parse(Buffer.from(r.data).toString()) as Answer<T>;
  };
  const dir = <T>(ask: Record<string, unknown>) => invoke<T>('dir', ask);

  before(async () => {
    granted = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        if (path.startsWith('/api/echo')) {
          echoHits++;
          res.setHeader('content-type', 'application/json');
          res.setHeader('set-cookie', ['a=1', 'b=2']);
          res.end(JSON.stringify({ method: req.method, url: path, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString() }));
        } else if (path === '/api/redirect') {
          res.writeHead(302, { location: `${other.url}/stolen` });
          res.end();
        } else if (path === '/api/big') {
          res.setHeader('content-type', 'application/octet-stream');
          const chunk = Buffer.alloc(1024 * 1024, 0x61);
          let sent = 0;
          const more = () => {
            while (sent < big) {
              const n = Math.min(chunk.length, big - sent);
              sent += n;
              if (!res.write(chunk.subarray(0, n))) return void res.once('drain', more);
            }
            res.end();
          };
          more();
        } else if (path === '/api/big-declared' && req.method === 'HEAD') {
          res.writeHead(200, { 'content-length': String(big) });
          res.end();
        } else if (path === '/api/big-declared') {
          res.writeHead(200, { 'content-length': String(big) });
          res.write(Buffer.alloc(1024, 0x62));
          hanging.push(res);
        } else if (path === '/api/hang') {
          hanging.push(res); // never answers
        } else {
          res.statusCode = 404;
          res.end();
        }
      });
    });
    other = await serve((_req, res) => {
      otherHits++;
      res.end('other');
    });

    writeFileSync(secret, 'outside secret');
    mkdirSync(join(root, 'sub'), { recursive: true });
    writeFileSync(join(root, 'sub', 'inner.txt'), 'inner');
    symlinkSync(secret, join(root, 'out-link'));
    symlinkSync(outside, join(root, 'out-dir'));
    symlinkSync(join(root, 'sub', 'inner.txt'), join(root, 'in-link'));
    symlinkSync('sub', join(root, 'in-dir'));
    symlinkSync(join(root, 'no-such-file'), join(root, 'dangling'));

    const mod = await loader.load(join(TEST_COMPONENTS, 'host-probe.wasm'), false);
    await registry.apply(
      {
        kind: 'Component',
        name: 'probe',
        type: 'bindings.host-probe',
        version: 'v1',
        scopes: [],
        ignoreErrors: false,
        file: '(test probe)',
        metadata: { baseUrl: `${granted.url}/api`, rootPath: root },
      },
      mod,
    );
  });

  after(async () => {
    for (const res of hanging) res.destroy();
    await registry.close();
    await capabilities.close();
    granted.server.closeAllConnections();
    other.server.closeAllConnections();
    granted.server.close();
    other.server.close();
  });

  describe('http', () => {
    it('sends a request to the granted origin as given (method, path, repeated headers, body) and returns the whole response, headers in order', async () => {
      const r = await invoke<{ status: number; headers: Array<[string, string]>; body: string }>('http', {
        method: 'POST',
        url: `${granted.url}/api/echo?q=1`,
        headers: [
          ['x-a', '1'],
          ['X-A', '2'],
          ['content-type', 'text/plain'],
        ],
        body: 'hello',
      });
      assert.equal(r.err, undefined, JSON.stringify(r.err));
      assert.equal(r.ok!.status, 200);
      const seen = JSON.parse(r.ok!.body) as { method: string; url: string; rawHeaders: string[]; body: string };
      assert.equal(seen.method, 'POST');
      assert.equal(seen.url, '/api/echo?q=1');
      assert.equal(seen.body, 'hello');
      const sent = [];
      for (let i = 0; i < seen.rawHeaders.length; i += 2) sent.push([seen.rawHeaders[i]!.toLowerCase(), seen.rawHeaders[i + 1]]);
      assert.deepEqual(
        sent.filter(([n]) => n === 'x-a'),
        [
          ['x-a', '1'],
          ['x-a', '2'],
        ],
      );
      assert.ok(!sent.some(([n]) => n === 'user-agent' || n === 'accept-encoding'), 'the host adds no headers of its own but host and content-length');
      assert.deepEqual(
        r.ok!.headers.filter(([n]) => n === 'set-cookie'),
        [
          ['set-cookie', 'a=1'],
          ['set-cookie', 'b=2'],
        ],
      );
      assert.ok(r.ok!.headers.some(([n, v]) => n === 'content-type' && v === 'application/json'));
    });

    it('sends TRACE and every other method the WIT lists', async () => {
      for (const method of ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE']) {
        const r = await invoke<{ status: number; body: string }>('http', { method, url: `${granted.url}/api/echo` });
        assert.equal(r.ok?.status, 200, `${method}: ${JSON.stringify(r.err)}`);
        if (method !== 'HEAD') assert.equal((JSON.parse(r.ok!.body) as { method: string }).method, method);
      }
    });

    it('refuses every other origin (another port, scheme or host name) with access-denied, never reaches it, and logs the refusal', async () => {
      const port = new URL(granted.url).port;
      for (const url of [`${other.url}/api/echo`, `https://127.0.0.1:${port}/api/echo`, `http://localhost:${port}/api/echo`]) {
        const r = await invoke('http', { method: 'GET', url });
        assert.equal(r.err?.tag, 'access-denied', url);
      }
      assert.equal(otherHits, 0);
      assert.ok(
        lines.some((l) => l.msg === `component probe may not reach http ${other.url}: not granted by its metadata`),
        JSON.stringify(lines.map((l) => l.msg)),
      );
    });

    it('returns a redirect as the response and does not follow it', async () => {
      const r = await invoke<{ status: number; headers: Array<[string, string]> }>('http', { method: 'GET', url: `${granted.url}/api/redirect` });
      assert.equal(r.ok?.status, 302);
      assert.ok(r.ok!.headers.some(([n, v]) => n === 'location' && v === `${other.url}/stolen`));
      assert.equal(otherHits, 0);
    });

    it("gives up on a server that never answers after the request's timeout-ms: unavailable", async () => {
      const t0 = performance.now();
      const r = await invoke('http', { method: 'GET', url: `${granted.url}/api/hang`, timeoutMs: 300 });
      const took = performance.now() - t0;
      assert.equal(r.err?.tag, 'unavailable');
      assert.match(r.err!.val, /did not answer within 300ms \(the request's timeout-ms\)/);
      assert.ok(took >= 290 && took < 2000, `took ${took}ms`);
    });

    it("without timeout-ms, gives up at the call's deadline and answers the guest in time: unavailable from the host, not a timed-out call", async () => {
      const t0 = performance.now();
      const r = await invoke('http', { method: 'GET', url: `${granted.url}/api/hang` }, 1500);
      const took = performance.now() - t0;
      assert.equal(r.err?.tag, 'unavailable');
      assert.match(r.err!.val, /did not answer within \d+ms \(the call's deadline\)/);
      assert.ok(took < 1500, `took ${took}ms, the call's budget is 1500ms`);
    });

    it(`refuses a response body over ${CAPABILITY_LIMITS.httpResponseBodyBytes} bytes with too-large, whether or not its length is declared (not a HEAD's)`, async () => {
      for (const path of ['/api/big', '/api/big-declared']) {
        const r = await invoke('http', { method: 'GET', url: `${granted.url}${path}` });
        assert.equal(r.err?.tag, 'too-large', `${path}: ${JSON.stringify(r)}`);
        assert.match(r.err!.val, /16 MiB/);
      }
      const head = await invoke<{ status: number; headers: Array<[string, string]> }>('http', { method: 'HEAD', url: `${granted.url}/api/big-declared` });
      assert.equal(head.ok?.status, 200, 'a HEAD response declares a length it does not carry');
      assert.ok(head.ok!.headers.some(([n, v]) => n === 'content-length' && v === String(big)));
    });

    it('refuses a malformed request with invalid-request naming the problem, and sends nothing', async () => {
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ method: 'GET', url: 'not a url' }, /not an absolute URL/],
        [{ method: 'GET', url: 'ftp://127.0.0.1/x' }, /not http or https/],
        [{ method: 'GET', url: `http://user:pw@${new URL(granted.url).host}/api/echo` }, /credentials/],
        [{ method: 'CONNECT', url: `${granted.url}/api/echo` }, /method 'CONNECT'/],
        [{ method: 'GET', url: `${granted.url}/api/echo`, headers: [['transfer-encoding', 'chunked']] }, /set by the host/],
        [{ method: 'GET', url: `${granted.url}/api/echo`, headers: [['host', 'internal.admin']] }, /not the url's host/],
        [{ method: 'POST', url: `${granted.url}/api/echo`, headers: [['content-length', '99']], body: 'x' }, /not the body's length/],
        [{ method: 'GET', url: `${granted.url}/api/echo`, headers: [['bad name', 'x']] }, /not a valid token/],
        [{ method: 'GET', url: `${granted.url}/api/echo`, headers: [['x-a', 'line\r\nbreak']] }, /characters/],
      ];
      const before = echoHits;
      for (const [ask, why] of cases) {
        const r = await invoke('http', ask);
        assert.equal(r.err?.tag, 'invalid-request', JSON.stringify(ask));
        assert.match(r.err!.val, why);
      }
      assert.equal(echoHits, before, 'no request reached the server');
    });
  });

  describe('directory', () => {
    it('writes (creating parents), reads, lists recursively up to max, and deletes; a missing file is not-found', async () => {
      assert.deepEqual(await dir({ op: 'write', path: 'a/b/c.txt', text: 'hello' }), { ok: null });
      assert.equal(readFileSync(join(root, 'a/b/c.txt'), 'utf8'), 'hello');
      assert.deepEqual(await dir({ op: 'read', path: 'a/b/c.txt' }), { ok: { text: 'hello', length: 5 } });
      await dir({ op: 'write', path: 'a/d.txt', text: 'dd' });
      const all = await dir<Array<{ name: string; size: number; isDirectory: boolean; modifiedMs: number }>>({ op: 'list', path: 'a' });
      assert.deepEqual(
        all.ok!.map((e) => [e.name, e.size, e.isDirectory]),
        [
          ['a/b', 0, true],
          ['a/b/c.txt', 5, false],
          ['a/d.txt', 2, false],
        ],
      );
      assert.ok(Math.abs(all.ok![1]!.modifiedMs - Date.now()) < 60_000);
      assert.equal((await dir<unknown[]>({ op: 'list', path: 'a', max: 2 })).ok!.length, 2);
      assert.deepEqual(await dir({ op: 'delete', path: 'a/b/c.txt' }), { ok: null });
      assert.ok(!existsSync(join(root, 'a/b/c.txt')));
      assert.equal((await dir({ op: 'read', path: 'a/b/c.txt' })).err?.tag, 'not-found');
      assert.equal((await dir({ op: 'delete', path: 'a/b/c.txt' })).err?.tag, 'not-found');
      assert.equal((await dir({ op: 'read', path: 'nope/x' })).err?.tag, 'not-found');
    });

    it('opens only the granted root, however it is spelled (a relative path is from the working directory), and no directory above or below it', async () => {
      assert.deepEqual(await dir({ root: relative(process.cwd(), root), op: 'read', path: 'sub/inner.txt' }), { ok: { text: 'inner', length: 5 } });
      assert.deepEqual(await dir({ root: `${root}/./sub/..//`, op: 'read', path: 'sub/inner.txt' }), { ok: { text: 'inner', length: 5 } });
      for (const r of [dirname(root), join(root, 'sub'), outside]) {
        assert.equal((await dir({ root: r, op: 'list', path: '' })).err?.tag, 'access-denied', r);
      }
      assert.ok(lines.some((l) => l.msg === `component probe may not reach directory ${outside}: not granted by its metadata`));
    });

    it('refuses .. segments and absolute paths (access-denied), a NUL and an empty path (invalid-path), and logs the escapes', async () => {
      for (const path of ['../x', 'sub/../../x', '..', '/etc/passwd', `${outside}/secret.txt`]) {
        for (const op of ['read', 'write', 'delete', 'list']) {
          const r = await dir({ op, path, text: 'x' });
          assert.equal(r.err?.tag, 'access-denied', `${op} ${path}: ${JSON.stringify(r)}`);
        }
      }
      assert.equal(readFileSync(secret, 'utf8'), 'outside secret');
      assert.equal((await dir({ op: 'read', path: 'a\u0000b' })).err?.tag, 'invalid-path');
      assert.equal((await dir({ op: 'read', path: '' })).err?.tag, 'invalid-path');
      assert.equal((await dir({ op: 'write', path: `${'x'.repeat(256)}`, text: '' })).err?.tag, 'invalid-path');
      assert.ok(
        lines.some((l) => /^component probe may not reach directory .* path '\.\.\/x': a '\.\.' segment leads outside the granted directory$/.test(l.msg)),
      );
    });

    it('refuses a symbolic link that leads outside (to a file or a directory) or nowhere, for read, write, delete and list, and leaves the outside alone', async () => {
      for (const path of ['out-link', 'out-dir/secret.txt', 'dangling']) {
        assert.equal((await dir({ op: 'read', path })).err?.tag, 'access-denied', `read ${path}`);
        assert.equal((await dir({ op: 'write', path, text: 'pwned' })).err?.tag, 'access-denied', `write ${path}`);
        assert.equal((await dir({ op: 'delete', path })).err?.tag, 'access-denied', `delete ${path}`);
      }
      assert.equal((await dir({ op: 'write', path: 'out-dir/new.txt', text: 'pwned' })).err?.tag, 'access-denied');
      assert.equal((await dir({ op: 'list', path: 'out-dir' })).err?.tag, 'access-denied');
      assert.equal(readFileSync(secret, 'utf8'), 'outside secret');
      assert.ok(!existsSync(join(outside, 'new.txt')));
      assert.ok(!existsSync(join(root, 'no-such-file')));
      assert.ok(lstatSync(join(root, 'out-link')).isSymbolicLink(), 'the link was not deleted');
      const listed = (await dir<Array<{ name: string }>>({ op: 'list', path: '' })).ok!.map((e) => e.name);
      for (const name of ['out-link', 'out-dir', 'dangling', 'out-dir/secret.txt']) assert.ok(!listed.includes(name), `${name} is not listed`);
    });

    it('follows a symbolic link that leads inside the root: read and write reach its target, list shows it without descending, delete removes the link', async () => {
      assert.deepEqual(await dir({ op: 'read', path: 'in-link' }), { ok: { text: 'inner', length: 5 } });
      assert.deepEqual(await dir({ op: 'read', path: 'in-dir/inner.txt' }), { ok: { text: 'inner', length: 5 } });
      await dir({ op: 'write', path: 'in-dir/via-link.txt', text: 'v' });
      assert.equal(readFileSync(join(root, 'sub', 'via-link.txt'), 'utf8'), 'v');
      const listed = (await dir<Array<{ name: string; isDirectory: boolean }>>({ op: 'list', path: '' })).ok!;
      assert.ok(listed.some((e) => e.name === 'in-link' && !e.isDirectory));
      assert.ok(listed.some((e) => e.name === 'in-dir' && e.isDirectory));
      assert.ok(!listed.some((e) => e.name.startsWith('in-dir/')), 'a linked directory is not descended into');
      assert.deepEqual(
        (await dir<Array<{ name: string }>>({ op: 'list', path: 'in-dir' })).ok!.map((e) => e.name),
        ['in-dir/inner.txt', 'in-dir/via-link.txt'],
      );
      assert.deepEqual(await dir({ op: 'delete', path: 'in-link' }), { ok: null });
      assert.ok(!existsSync(join(root, 'in-link')));
      assert.equal(readFileSync(join(root, 'sub', 'inner.txt'), 'utf8'), 'inner', 'the target stays');
    });

    it(`refuses a file over ${CAPABILITY_LIMITS.fileReadBytes} bytes with too-large`, async () => {
      writeFileSync(join(root, 'huge.bin'), Buffer.alloc(CAPABILITY_LIMITS.fileReadBytes + 1));
      const r = await dir({ op: 'read', path: 'huge.bin' });
      assert.equal(r.err?.tag, 'too-large');
      assert.match(r.err!.val, /16 MiB/);
      writeFileSync(join(root, 'huge.bin'), Buffer.alloc(CAPABILITY_LIMITS.fileReadBytes));
      assert.equal((await dir<{ length: number }>({ op: 'read', path: 'huge.bin' })).ok?.length, CAPABILITY_LIMITS.fileReadBytes, 'exactly the limit is read');
    });
    it('never truncates, creates or reads a file outside the root through a link whose directory is swapped for a link to outside meanwhile', async () => {
      // race/link-a -> d/a and race/link-b -> d/b; a swapper process renames race/d (a real directory holding
      // a and b) and race/d.link (a link to a directory outside, holding a but no b) into each other's place.
      const race = join(root, 'race');
      const away = tempDir('host-cap-away');
      writeFileSync(join(away, 'a'), 'outside a');
      mkdirSync(join(race, 'd'), { recursive: true });
      writeFileSync(join(race, 'd', 'a'), 'inside a');
      writeFileSync(join(race, 'd', 'b'), 'inside b');
      symlinkSync(away, join(race, 'd.link'));
      symlinkSync('d/a', join(race, 'link-a'));
      symlinkSync('d/b', join(race, 'link-b'));
      const swap = `const { renameSync } = require('node:fs'); const r = process.argv[1];
        for (;;) { renameSync(r + '/d', r + '/d.real'); renameSync(r + '/d.link', r + '/d'); renameSync(r + '/d', r + '/d.link'); renameSync(r + '/d.real', r + '/d'); }`;
      const swapper = spawn(process.execPath, ['-e', swap, race], { stdio: 'ignore' });
      const untouched = () => readFileSync(join(away, 'a'), 'utf8') === 'outside a' && !existsSync(join(away, 'b'));
      let calls = 0;
      let inside = 0;
      let leaked = '';
      const until = performance.now() + 3000;
      try {
        // Two loops: the probe's pool has two instances, so two calls race the swapper at once.
        const loop = async (n: number) => {
          while (performance.now() < until && untouched() && leaked === '') {
            calls++;
            const w = await dir({ op: 'write', path: n % 2 === 0 ? 'race/link-a' : 'race/link-b', text: 'written' });
            if (w.ok === null) inside++;
            const r = await dir<{ text: string }>({ op: 'read', path: 'race/link-a' });
            if (r.ok && r.ok.text !== 'inside a' && r.ok.text !== 'written') leaked = r.ok.text;
            n++;
          }
        };
        await Promise.all([loop(0), loop(1)]);
      } finally {
        swapper.kill();
        await new Promise((resolve) => swapper.once('exit', resolve));
      }
      assert.equal(leaked, '', 'no read returned the outside file');
      assert.equal(readFileSync(join(away, 'a'), 'utf8'), 'outside a', `the outside file is intact after ${calls} writes`);
      assert.ok(!existsSync(join(away, 'b')), `no file was created outside after ${calls} writes`);
      assert.ok(calls >= 50, `raced ${calls} times`);
      assert.ok(inside > 0, 'writes through the link reached its target while it was inside the root');
    });

    it(`refuses a path of over ${CAPABILITY_LIMITS.directoryPath.segments} segments or over ${CAPABILITY_LIMITS.directoryPath.bytes} bytes with invalid-path naming the limit, for every operation, and makes nothing`, async () => {
      const { segments, bytes } = CAPABILITY_LIMITS.directoryPath;
      const deep = `deep/${'a/'.repeat(segments - 1)}f`;
      const long = `long/${Array.from({ length: Math.ceil(bytes / 250) }, () => 'x'.repeat(249)).join('/')}`;
      for (const op of ['read', 'write', 'delete', 'list']) {
        const d = await dir({ op, path: deep, text: 'x' });
        assert.equal(d.err?.tag, 'invalid-path', `${op} deep: ${JSON.stringify(d)}`);
        assert.match(d.err!.val, new RegExp(`has ${segments + 1} segments, over the ${segments} a path may have`));
        const l = await dir({ op, path: long, text: 'x' });
        assert.equal(l.err?.tag, 'invalid-path', `${op} long: ${JSON.stringify(l).slice(0, 200)}`);
        assert.match(l.err!.val, new RegExp(`is over ${bytes} bytes, the most a path may have`));
      }
      assert.ok(!existsSync(join(root, 'deep')) && !existsSync(join(root, 'long')), 'no directory was made');
      const most = `deep/${'a/'.repeat(segments - 2)}f`;
      assert.deepEqual(await dir({ op: 'write', path: most, text: 'deepest' }), { ok: null }, `${segments} segments are allowed`);
      assert.deepEqual(await dir({ op: 'read', path: most }), { ok: { text: 'deepest', length: 7 } });
    });

    it('lists a deep tree holding at most a few file descriptors open at once, and returns at most max entries', async () => {
      const chain = ['fd', ...Array.from({ length: 60 }, () => 'd')];
      const bottom = join(root, ...chain);
      mkdirSync(bottom, { recursive: true });
      for (let i = 0; i < 3000; i++) writeFileSync(join(bottom, `f${i}`), '');
      // The capability thread is a thread of this process: its descriptors are this process's.
      const open = () => readdirSync('/proc/self/fd').length;
      const before = open();
      let most = before;
      let done = false;
      const sampling = (async () => {
        while (!done) {
          most = Math.max(most, open());
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const r = await dir<Array<{ name: string }>>({ op: 'list', path: 'fd', max: 5000 });
      done = true;
      await sampling;
      assert.equal(r.ok?.length, 60 + 3000, JSON.stringify(r).slice(0, 200));
      assert.equal(r.ok![59]!.name, chain.join('/'));
      assert.ok(most - before <= 4, `${most - before} more descriptors were open during the list (${before} before)`);
      assert.equal((await dir<unknown[]>({ op: 'list', path: 'fd', max: 100 })).ok?.length, 100);
    });
    it("gives up on a list still walking at the call's deadline and answers the guest in time: unavailable from the directory capability", async () => {
      // 60 levels of 50 empty directories each, beside the one that goes deeper: over 3,000 directories to walk.
      let level = join(root, 'slow');
      for (let i = 0; i < 60; i++) {
        for (let j = 0; j < 50; j++) mkdirSync(join(level, `e${j}`), { recursive: true });
        level = join(level, 'd');
      }
      const t0 = performance.now();
      const r = await invoke('dir', { op: 'list', path: 'slow', max: 5000 }, 800);
      const took = performance.now() - t0;
      assert.equal(r.err?.tag, 'unavailable', JSON.stringify(r).slice(0, 200));
      assert.match(r.err!.val, /: the call's deadline passed before the host was done$/);
      assert.ok(took < 800, `took ${took}ms, the call's budget is 800ms`);
      assert.equal((await dir<unknown[]>({ op: 'list', path: 'slow', max: 5 })).ok?.length, 5, 'the instance answers the next call');
    });
  });
});

/**
 * `mortar up`'s command line: `spin up`'s flag names and defaults, the Spin flags accepted but not applied or
 * refused, and everything else left for `mortar run`'s parser.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseUpArgs } from '../../host/src/workloads/up-args.js';

it('defaults as spin up: ./spin.toml (no -f), listen 127.0.0.1:3000; SPIN_HTTP_LISTEN_ADDR and RUNTIME_CONFIG_FILE as Spin reads them', () => {
  const a = parseUpArgs([], {});
  assert.equal(a.from, undefined);
  assert.deepEqual(a.listen, { host: '127.0.0.1', port: 3000 });
  assert.equal(a.runtimeConfigFile, undefined);
  const e = parseUpArgs([], { SPIN_HTTP_LISTEN_ADDR: '0.0.0.0:8080', RUNTIME_CONFIG_FILE: 'rc.toml' });
  assert.deepEqual(e.listen, { host: '0.0.0.0', port: 8080 });
  assert.equal(e.runtimeConfigFile, 'rc.toml');
});

it('takes Spin`s flags in both forms and leaves mortar run`s flags in order', () => {
  const a = parseUpArgs(
    [
      '-f',
      'app/',
      '--listen=[::1]:3001',
      '--runtime-config-file',
      'rc.toml',
      '-e',
      'A=1',
      '--env',
      'B=x=y',
      '--variable',
      'k=v',
      '--resources-path',
      'comp',
      '--dapr-http-port',
      '3600',
    ],
    {},
  );
  assert.equal(a.from, 'app/');
  assert.deepEqual(a.listen, { host: '::1', port: 3001 });
  assert.equal(a.runtimeConfigFile, 'rc.toml');
  assert.deepEqual(a.env, [
    ['A', '1'],
    ['B', 'x=y'],
  ]);
  assert.deepEqual(a.variables, ['k=v']);
  assert.deepEqual(a.rest, ['--resources-path', 'comp', '--dapr-http-port', '3600']);
  assert.equal(parseUpArgs(['--from', 'x.toml'], {}).from, 'x.toml');
  assert.equal(parseUpArgs(['--file', 'y.toml'], {}).from, 'y.toml');
});

it('Spin flags with no meaning here are accepted and listed; ones that would change behaviour are refused by name', () => {
  assert.deepEqual(parseUpArgs(['--state-dir', '.spin', '-q', '--disable-pooling', '--follow', 'api'], {}).ignored, [
    '--state-dir .spin',
    '-q',
    '--disable-pooling',
    '--follow api',
  ]);
  assert.throws(() => parseUpArgs(['--tls-cert', 'c.pem'], {}), /--tls-cert: TLS on --listen is not supported/);
  assert.throws(() => parseUpArgs(['--build'], {}), /--build: mortar up does not build the app/);
  assert.throws(() => parseUpArgs(['--key-value', 'a=b'], {}), /--key-value: seeding key-value stores is not supported/);
  assert.throws(() => parseUpArgs(['--', 'node', 'app.js'], {}), /mortar up runs no app command/);
  assert.throws(() => parseUpArgs(['-e', 'NOEQUALS'], {}), /--env: 'NOEQUALS' is not KEY=VALUE/);
  assert.throws(() => parseUpArgs(['--listen', '3000'], {}), /--listen: '3000' is not <host>:<port>/);
  assert.throws(() => parseUpArgs(['-f'], {}), /-f needs a value/);
  assert.throws(() => parseUpArgs(['-f', 'a', '-f', 'b'], {}), /--from given 2 times/);
});

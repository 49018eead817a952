/**
 * The app-channel flags of `mortar run` as daprd reads them: `--enable-app-health-check` (a Go boolean)
 * with its `--app-health-*` settings and `--disable-init-endpoints`; none of them is "accepted but not
 * applied" any more.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRunArgs } from '../../host/src/main.js';
import { formatDuration } from '../../host/src/duration.js';

it('app health: off unless --enable-app-health-check; daprd defaults /healthz, 5 s, 500 ms, 3', () => {
  assert.equal(parseRunArgs(['--app-health-threshold', '9'], {}).config.appHealth, undefined);
  assert.deepEqual(parseRunArgs(['--enable-app-health-check'], {}).config.appHealth, { path: '/healthz', intervalMs: 5000, timeoutMs: 500, threshold: 3 });
});

it('app health: the flags set path, interval (seconds), timeout (ms) and threshold; a path gets its leading slash; zeros become 1', () => {
  const { config, ignored } = parseRunArgs(
    [
      '-enable-app-health-check',
      '--app-health-check-path',
      'live',
      '--app-health-probe-interval',
      '2',
      '--app-health-probe-timeout=750',
      '--app-health-threshold',
      '4',
    ],
    {},
  );
  assert.deepEqual(config.appHealth, { path: '/live', intervalMs: 2000, timeoutMs: 750, threshold: 4 });
  assert.deepEqual(ignored, []);
  const zero = parseRunArgs(['--enable-app-health-check', '--app-health-probe-interval', '0', '--app-health-threshold', '0'], {}).config.appHealth;
  assert.deepEqual([zero?.intervalMs, zero?.threshold], [1000, 1]);
  assert.throws(
    () => parseRunArgs(['--enable-app-health-check', '--app-health-probe-interval', '1.5'], {}),
    /--app-health-probe-interval: '1.5' is not a whole number/,
  );
});

it('--enable-app-health-check is a Go boolean: bare or =true|false|1|0, the last one given wins; another value is an error', () => {
  assert.ok(parseRunArgs(['--enable-app-health-check=true', '--app-id', 'a'], {}).config.appHealth);
  assert.equal(parseRunArgs(['--enable-app-health-check=false'], {}).config.appHealth, undefined);
  assert.equal(parseRunArgs(['--enable-app-health-check', '--enable-app-health-check=0'], {}).config.appHealth, undefined);
  assert.ok(parseRunArgs(['--enable-app-health-check=f', '--enable-app-health-check=T'], {}).config.appHealth);
  assert.throws(() => parseRunArgs(['--enable-app-health-check=yes'], {}), /--enable-app-health-check: 'yes' is not true or false/);
  // A bare boolean does not swallow the flag after it.
  assert.equal(parseRunArgs(['--enable-app-health-check', '--app-port', '3000'], {}).config.appPort, 3000);
});

it('--disable-init-endpoints: comma-separated and repeatable; unknown names are an error', () => {
  assert.deepEqual(parseRunArgs([], {}).config.disableInitEndpoints, []);
  assert.deepEqual(parseRunArgs(['--disable-init-endpoints', 'config'], {}).config.disableInitEndpoints, ['config']);
  assert.deepEqual(parseRunArgs(['--disable-init-endpoints=subscribe, config'], {}).config.disableInitEndpoints, ['subscribe', 'config']);
  assert.deepEqual(parseRunArgs(['--disable-init-endpoints', 'config', '--disable-init-endpoints', 'subscribe,config'], {}).config.disableInitEndpoints, [
    'config',
    'subscribe',
  ]);
  assert.throws(() => parseRunArgs(['--disable-init-endpoints', 'actors'], {}), /'actors' is not one of config, subscribe/);
});

it('durations are written as Go writes them (the metadata API reports the health settings so)', () => {
  assert.deepEqual([0, 300, 500, 1000, 1500, 5000, 90_000, 3_600_000].map(formatDuration), ['0s', '300ms', '500ms', '1s', '1.5s', '5s', '1m30s', '1h0m0s']);
});

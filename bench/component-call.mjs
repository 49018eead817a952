// The cost of one host -> component call: `stateStore.get` on state.in-memory, called in-thread on an
// instance (glue + QuickJS) and through the sandbox pool (worker round trip), against a plain JS function
// doing the same Map lookup.
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';

export async function componentCall(root) {
  const dist = (p) => pathToFileURL(join(root, 'dist/host/src', p)).href;
  const { TranspileCache } = await import(dist('components/transpile-cache.js'));
  const { ComponentLoader } = await import(dist('components/component-types.js'));
  const { ComponentRegistry } = await import(dist('components/registry.js'));
  const { InThreadCapabilities } = await import(dist('capabilities/capability-host.js'));
  const { limitMemory } = await import(dist('components/wasm-memory-limit.js'));
  const { WASIShim } = await import('@bytecodealliance/preview2-shim/instantiation');
  const { clockImports } = await import(dist('components/sandbox/clock.js'));
  const { guestImports } = await import(dist('capabilities/guest-imports.js'));

  const dataDir = mkdtempSync(join(tmpdir(), 'mortar-bench-call-'));
  const logger = pino({ level: 'silent' });
  const loader = new ComponentLoader(new TranspileCache(join(dataDir, 'cache')), logger, 5000, 256 * 1024 * 1024);
  const mod = await loader.load(join(root, 'dist/components/state.in-memory.wasm'), true);

  // In-thread instance.
  const { instantiate } = await import(pathToFileURL(join(mod.artifact.dir, 'component.js')).href);
  const imports = {
    ...new WASIShim({ sandbox: { preopens: {}, env: {}, args: ['bench'], enableNetwork: false } }).getImportObject(),
    'mortar:host/log': { log() {} },
    // The sandbox's own clock and the capabilities' guest classes (a call reaching the bridge would throw).
    'mortar:host/clock': clockImports(() => 5000),
    ...guestImports(() => {
      throw new Error('no host I/O in this benchmark');
    }),
  };
  const inst = await instantiate(async (p) => WebAssembly.compile(limitMemory(await readFile(join(mod.artifact.dir, p)), 256 * 1024 * 1024)), imports);
  inst.lifecycle.init([]);
  inst.stateStore.set({ key: 'k', value: new Uint8Array([1, 2, 3]), etag: undefined, concurrency: 'last-write', consistency: 'strong', metadata: [] });
  const req = { key: 'k', consistency: 'strong', metadata: [] };
  const map = new Map([['k', { data: new Uint8Array([1, 2, 3]), etag: '1', metadata: [] }]]);
  const plain = (r) => map.get(r.key);

  const time = (fn, n) => {
    for (let i = 0; i < Math.min(n, 20000); i++) fn(req);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(req);
    return Number(process.hrtime.bigint() - t0) / 1e3 / n;
  };
  const wasmUs = time((r) => inst.stateStore.get(r), 100_000);
  const jsUs = time(plain, 5_000_000);

  // Through the pool.
  const registry = new ComponentRegistry({
    appId: 'bench',
    capabilities: new InThreadCapabilities(dataDir),
    logger,
    poolSize: 1,
    callTimeoutMs: 5000,
    memoryLimitBytes: 256 * 1024 * 1024,
  });
  await registry.apply(
    { kind: 'Component', name: 'm', type: 'state.in-memory', version: 'v1', metadata: {}, scopes: [], ignoreErrors: false, file: 'bench' },
    mod,
  );
  const pool = registry.get('m').pool;
  for (let i = 0; i < 2000; i++) await pool.call('stateStore', 'get', [req]);
  const n = 20_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await pool.call('stateStore', 'get', [req]);
  const poolUs = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  await registry.close();
  return { wasmUs, jsUs, poolUs };
}

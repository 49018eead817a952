/**
 * The host's structure, as docs/architecture.md and the README state it, checked on the sources: imports
 * point one way (composition root → api and workloads → app channel → blocks → components → capabilities and
 * resources → the base modules; workloads call api/universal as the transports do), only the per-block adapters call into a component's exports, and the transports (the HTTP
 * routes, the gRPC service) and the Wasm face (workloads/, mortar:app included) reach the building blocks only
 * through the universal API.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { ROOT } from '../helpers/sidecar.js';

const SRC = join(ROOT, 'host/src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Rank of each top-level place of host/src: a module may import only from its own place or a lower rank. */
const RANK: Readonly<Record<string, number>> = {
  'main.ts': 7,
  cli: 6,
  'runtime.ts': 6,
  api: 5,
  // A face of its own beside the transports: Wasm workloads, whose guests call the universal API.
  workloads: 5,
  'app-channel': 4,
  blocks: 3,
  components: 2,
  capabilities: 1,
  resources: 1,
};
/** Everything else at the top of host/src (building-blocks.ts, errors.ts, logger.ts, config.ts, ...) is rank 0. */
const placeOf = (file: string) => relative(SRC, file).split('/')[0]!;
const rankOf = (place: string) => RANK[place] ?? 0;

/** Relative imports and re-exports of a file, resolved to source paths (type-only ones included). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gm)) out.push(resolve(dirname(file), m[1]!).replace(/\.js$/, '.ts'));
  return out;
}

const files = sources(SRC);

describe('host layers', () => {
  it('every import points to its own place or a lower layer (api → app-channel → blocks → components → capabilities/resources → base)', () => {
    const wrong: string[] = [];
    for (const f of files) {
      const from = placeOf(f);
      for (const t of importsOf(f)) {
        if (!t.startsWith(SRC)) continue; // the generated WIT types (host/generated) are below everything
        const to = placeOf(t);
        if (to === from) continue;
        // Workloads call the universal API as the transports do.
        if (from === 'workloads' && relative(SRC, t).startsWith('api/universal/')) continue;
        if (rankOf(to) > rankOf(from) || (rankOf(to) === rankOf(from) && rankOf(to) > 0)) wrong.push(`${relative(SRC, f)} -> ${relative(SRC, t)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it("only the per-block adapters (*-client.ts) call into a component's exports, through typedCall; nothing else names an export in a pool call", () => {
    const adapters = files
      .filter((f) => !f.endsWith('sandbox/typed-call.ts'))
      .filter((f) => /\btypedCall\s*</.test(readFileSync(f, 'utf8')))
      .map((f) => relative(SRC, f))
      .sort();
    assert.deepEqual(adapters, [
      'blocks/bindings/binding-client.ts',
      'blocks/pubsub/broker-client.ts',
      'blocks/state/store-client.ts',
      'components/lifecycle-client.ts',
    ]);
    // A pool call names its export as a string: `pool.call('stateStore', ...)`. None is left outside the pool itself.
    const stringCalls = files
      .filter((f) => !f.endsWith('sandbox/pool.ts'))
      .filter((f) => /\.call\(\s*['"`]/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(SRC, f));
    assert.deepEqual(stringCalls, []);
  });

  for (const [transport, dir] of [
    ['HTTP routes', 'api/http/'],
    ['gRPC service', 'api/grpc/'],
  ] as const) {
    it(`the ${transport} reach the building blocks only through the universal API (besides two pure constants and content-type predicates)`, () => {
      const allowed = new Set(['blocks/state/keys.ts', 'blocks/pubsub/cloudevents.ts']);
      const reached: string[] = [];
      const inDir = files.filter((x) => relative(SRC, x).startsWith(dir));
      assert.ok(inDir.length > 0, `${dir} has sources`);
      for (const f of inDir) {
        for (const t of importsOf(f)) {
          const to = relative(SRC, t);
          if ((to.startsWith('blocks/') || to.startsWith('components/') || to.startsWith('capabilities/')) && !allowed.has(to))
            reached.push(`${basename(f)} -> ${to}`);
        }
      }
      assert.deepEqual(reached, []);
    });
  }

  it('the workloads (Spin imports and mortar:app alike) reach the building blocks only through the universal API (the sandbox and the capabilities host their guests)', () => {
    const reached: string[] = [];
    const inDir = files.filter((x) => relative(SRC, x).startsWith('workloads/'));
    assert.ok(inDir.length > 0, 'workloads/ has sources');
    assert.ok(
      inDir.some((f) => f.endsWith('workloads/app-imports.ts')),
      'mortar:app is served from workloads/',
    );
    for (const f of inDir) {
      for (const t of importsOf(f)) {
        const to = relative(SRC, t);
        if (to.startsWith('blocks/') || (to.startsWith('api/') && !to.startsWith('api/universal/'))) reached.push(`${basename(f)} -> ${to}`);
      }
    }
    assert.deepEqual(reached, []);
  });

  it('the transports do not import each other, nor the workloads them: HTTP, gRPC and the Wasm face share only the universal API', () => {
    const transports = ['api/http/', 'api/grpc/', 'workloads/'];
    const crossed: string[] = [];
    for (const f of files) {
      const from = relative(SRC, f);
      const own = transports.find((t) => from.startsWith(t));
      if (!own) continue;
      for (const t of importsOf(f)) {
        const to = relative(SRC, t);
        if (transports.some((x) => x !== own && to.startsWith(x))) crossed.push(`${from} -> ${to}`);
      }
    }
    assert.deepEqual(crossed, []);
  });
});

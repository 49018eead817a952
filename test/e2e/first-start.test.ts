/**
 * A first start (an empty data dir, as every new pod or CI job has) does no transpiling of the built-in
 * components: they ship transpiled from `npm run build`, and only a user's `.wasm` is transpiled into the
 * data dir's cache. The built-ins are summarised in one log line.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_COMPONENTS, Sidecar, TEST_COMPONENTS, tempDir, writeComponent } from '../helpers/sidecar.js';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
/** The built-in `.wasm` files, by type name (a built-in's file is named after its type). */
const builtins = readdirSync(BUILTIN_COMPONENTS)
  .filter((n) => n.endsWith('.wasm'))
  .map((n) => n.slice(0, -'.wasm'.length))
  .sort();

/** The artifacts the sidecar wrote into its data dir's transpile cache (any jco version), by hash. */
function cachedInDataDir(dataDir: string): string[] {
  const root = join(dataDir, 'cache');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .flatMap((v) => readdirSync(join(root, v)))
    .sort();
}

describe('first start with an empty data dir', () => {
  let sc: Sidecar;
  let dataDir: string;
  let res: string;

  before(async () => {
    res = tempDir('first-res');
    copyFileSync(join(TEST_COMPONENTS, 'hostile.wasm'), join(res, 'hostile.wasm'));
    writeComponent(res, 'echo.yaml', 'echo', 'state.hostile');
    writeComponent(res, 'mem.yaml', 'mem', 'state.in-memory');
    dataDir = tempDir('first-data');
    assert.deepEqual(readdirSync(dataDir), [], 'the data dir starts empty');
    sc = await Sidecar.start({ resourcesPath: res, dataDir });
  });
  after(async () => {
    await sc?.stop();
  });

  it('transpiles no built-in at run time: the data dir caches only the user component, and every built-in is loaded prebuilt', async () => {
    assert.ok(builtins.length >= 9, `built-ins found in ${BUILTIN_COMPONENTS}: ${builtins.join(', ')}`);
    const cached = cachedInDataDir(dataDir);
    for (const type of builtins) {
      assert.ok(!cached.includes(sha256(join(BUILTIN_COMPONENTS, `${type}.wasm`))), `${type} was transpiled into the data dir`);
    }
    assert.deepEqual(cached, [sha256(join(res, 'hostile.wasm'))], 'the user component is transpiled into the data dir');
    const line = sc.logs.find((l) => l.includes('built-in components'));
    assert.ok(line?.includes(`loaded ${builtins.length} built-in components (${builtins.length} prebuilt)`), `summary line: ${line}`);

    // The prebuilt artifacts serve, and so does the user component transpiled at run time.
    assert.equal((await sc.json('POST', '/v1.0/state/mem', [{ key: 'k', value: { n: 1 } }])).status, 204);
    assert.deepEqual((await sc.json('GET', '/v1.0/state/mem/k')).body, { n: 1 });
    assert.equal((await sc.json('GET', '/v1.0/state/echo/hello')).body, 'hello');
  });

  it('summarises the built-ins in one log line that names each of them', () => {
    const lines = sc.logs.filter((l) => /built-in/.test(l));
    assert.equal(lines.length, 1, `lines about built-ins:\n${lines.join('\n')}`);
    const summary = lines[0]!.split(' {')[0]!;
    for (const type of builtins) assert.ok(summary.includes(`${type} `), `${type} is named in: ${summary}`);
    assert.ok(
      sc.logs.some((l) => l.includes('loaded component state.hostile 0.0.1')),
      'a user component keeps its own line',
    );
  });
});

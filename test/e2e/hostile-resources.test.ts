/**
 * Hostile files dropped into a live resources folder cost the API nothing: a component schema whose
 * `pattern` backtracks without bound, a YAML alias bomb and a 10 MB YAML are each refused with a line naming
 * the file (and the field), while health checks keep answering in well under 100 ms and later files still load.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sidecar, TEST_COMPONENTS, tempDir, writeComponent } from '../helpers/sidecar.js';

let sc: Sidecar;
let dir: string;

/**
 * Polls /v1.0/healthz back to back until `done` holds (at most `timeoutMs`); returns the slowest answer in ms.
 * Each poll has its own connection, as a kubelet's probe has.
 */
async function slowestHealthCheck(done: () => boolean, timeoutMs: number): Promise<{ maxMs: number; polls: number; slow: string }> {
  const start = performance.now();
  const deadline = Date.now() + timeoutMs;
  let maxMs = 0;
  let polls = 0;
  const slow: string[] = [];
  while (!done() && Date.now() < deadline) {
    const t0 = performance.now();
    // A stalled API fails the poll at once instead of hanging the test for the stall's length.
    let r: Response;
    try {
      r = await sc.fetch('/v1.0/healthz', { headers: { connection: 'close' }, signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
    } catch (err) {
      assert.fail(`a health check did not answer within 2 s at +${(t0 - start).toFixed(0)} ms: ${(err as Error).name}`);
    }
    const ms = performance.now() - t0;
    if (ms >= 50) slow.push(`${ms.toFixed(0)} ms at +${(t0 - start).toFixed(0)} ms`);
    maxMs = Math.max(maxMs, ms);
    assert.equal(r.status, 204);
    polls++;
    await new Promise((res) => setTimeout(res, 5));
  }
  assert.ok(done(), 'the refusal was logged in time');
  return { maxMs, polls, slow: slow.join(', ') };
}

const logged = (pred: (l: string) => boolean) => () => sc.logs.some(pred);

describe('hostile resource files in a live folder', () => {
  before(async () => {
    dir = tempDir('hostile-res');
    copyFileSync(join(TEST_COMPONENTS, 'hostile.wasm'), join(dir, 'hostile.wasm'));
    writeComponent(dir, 'mem.yaml', 'mem', 'state.in-memory');
    sc = await Sidecar.start({ resourcesPath: dir });
  });
  after(async () => {
    await sc?.stop();
  });

  it("a schema pattern that backtracks (^(a+)+$ on 'aaaa...!') is refused naming file and field; health checks stay under 100 ms", async () => {
    // 30 a's and a mismatch: about 2^30 backtracking steps, minutes of CPU.
    const file = writeComponent(dir, 'redos.yaml', 'redos', 'state.hostile', { redisHost: '127.0.0.1:6379', label: `${'a'.repeat(30)}!` });
    const { maxMs, polls, slow } = await slowestHealthCheck(
      logged((l) => l.includes('refused') && l.includes(file)),
      15_000,
    );
    const line = sc.logs.find((l) => l.includes('refused') && l.includes(file))!;
    assert.match(line, /field 'label' did not validate against the component's schema within 1000ms/);
    assert.ok(maxMs < 100, `slowest health check ${maxMs.toFixed(1)} ms over ${polls} polls (slow: ${slow})`);
    // The check thread was replaced: a good component of the same module still loads.
    writeComponent(dir, 'fine.yaml', 'fine', 'state.hostile', { redisHost: '127.0.0.1:6379', label: 'aaaa' });
    await sc.waitForLog((l) => l.includes('component fine (state.hostile) loaded'), 10_000);
  });

  it('a YAML alias bomb is refused naming the file, and hot reload goes on', async () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++)
      levels.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(',')}]`,
      );
    const file = join(dir, 'bomb.yaml');
    writeFileSync(file, `${levels.join('\n')}\n`);
    const line = await sc.waitForLog((l) => l.includes('refused') && l.includes(file), 5000);
    assert.match(line, /\(yaml\)|alias/i);
    writeComponent(dir, 'after-bomb.yaml', 'afterbomb', 'state.in-memory');
    await sc.waitForLog((l) => l.includes('component afterbomb (state.in-memory) loaded'), 5000);
  });

  it('a 10 MB YAML is refused by its size naming the file; health checks stay under 100 ms', async () => {
    const file = join(dir, 'huge.yaml');
    const item = `  - name: k\n    value: "${'x'.repeat(100)}"\n`;
    writeFileSync(
      file,
      `apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: huge\nspec:\n  type: state.in-memory\n  metadata:\n${item.repeat(Math.ceil(10e6 / item.length))}`,
    );
    const { maxMs, polls, slow } = await slowestHealthCheck(
      logged((l) => l.includes('refused') && l.includes(file)),
      15_000,
    );
    const line = sc.logs.find((l) => l.includes('refused') && l.includes(file))!;
    assert.match(line, /a resource file may be at most 262144 bytes/);
    assert.ok(maxMs < 100, `slowest health check ${maxMs.toFixed(1)} ms over ${polls} polls (slow: ${slow})`);
    assert.equal((await sc.json('POST', '/v1.0/state/mem', [{ key: 'k', value: 1 }])).status, 204);
  });
});

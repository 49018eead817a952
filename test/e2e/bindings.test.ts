/**
 * The bindings building block over HTTP, exactly as daprd answers it, against a real `mortar` process and a
 * real app: output bindings (`POST|PUT /v1.0/bindings/{name}`: status codes, messages, data re-marshalled
 * byte for byte, `metadata.<k>` headers, 204), `direction`, scopes, the metadata API's capabilities, and input
 * bindings (the OPTIONS probe, routes, headers, retries per the inbound policy, nack and redelivery, nothing
 * lost). The component is the `bindings.echo-fixture` test component (both halves, in memory).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sidecar, TEST_COMPONENTS, tempDir, writeComponent } from '../helpers/sidecar.js';
import { BindingApp } from '../helpers/binding-app.js';
import { waitUntil } from '../helpers/wait.js';

interface Stats {
  invoked: Record<string, number>;
  opened: number;
  fetched: number;
  acked: number;
  nacked: number;
  ackedEvents: number[];
  nackedEvents: number[];
  nackErrors: string[];
  inflight: number;
  ready: number;
}

const FIXTURE = 'bindings.echo-fixture';
/** Events the `numbers` binding emits. */
const NUMBERS = 50;

describe('bindings over HTTP against mortar', () => {
  let sc: Sidecar;
  let app: BindingApp;
  /** How many times the app refused event 3 of `flaky` so far. */
  let flakyRefusals = 0;
  let dir: string;

  const invoke = (name: string, body: unknown, method = 'POST') => sc.json(method, `/v1.0/bindings/${name}`, body);
  const stats = async (name: string): Promise<Stats> => {
    const r = await invoke(name, { operation: 'stats' });
    assert.equal(r.status, 200, r.text);
    return r.body as Stats;
  };
  const delivered = (path: string) => app.on('POST', path).map((r) => Number(r.headers.n));

  before(async () => {
    dir = tempDir('bindings');
    copyFileSync(join(TEST_COMPONENTS, `${FIXTURE}.wasm`), join(dir, `${FIXTURE}.wasm`));
    // Probed (no direction); the app answers OPTIONS /echo with 404: never read.
    writeComponent(dir, 'echo.yaml', 'echo', FIXTURE, { events: '3' });
    // Explicitly input (no probe), and output too so the test can read its stats; route without a slash.
    writeComponent(dir, 'numbers.yaml', 'numbers', FIXTURE, { events: String(NUMBERS), direction: 'input, output', route: 'numbers-in' });
    // Probed; the app answers OPTIONS /events with 405, which daprd counts as subscribed.
    writeComponent(dir, 'probed.yaml', 'probed', FIXTURE, { events: '5', route: '/events', eventContentType: 'text/plain' });
    writeComponent(dir, 'flaky.yaml', 'flaky', FIXTURE, { events: '10', direction: 'Input,OUTPUT' });
    writeComponent(dir, 'outonly.yaml', 'outonly', FIXTURE, { events: '3', direction: 'output' });
    writeComponent(dir, 'inonly.yaml', 'inonly', FIXTURE, { events: '2', direction: 'input' });
    writeComponent(dir, 'scoped.yaml', 'scoped', FIXTURE, {}, 'scopes:\n- some-other-app\n');
    // Output calls to `echo` are retried twice (a `binding-error` that is an answer, such as
    // `invalid-argument`, is not retried).
    writeFileSync(
      join(dir, 'resiliency.yaml'),
      `apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: bindings
spec:
  policies:
    retries:
      twice: { policy: constant, duration: 50ms, maxRetries: 2 }
  targets:
    components:
      echo: { outbound: { retry: twice } }
`,
    );
    app = await BindingApp.start();
    app.respond = (r) => {
      if (r.method === 'OPTIONS') return r.path === '/echo' ? 404 : r.path === '/events' ? 405 : 200;
      if (r.path === '/flaky' && r.headers.n === '3' && flakyRefusals < 8) {
        flakyRefusals++;
        return 500;
      }
      return 200;
    };
    sc = await Sidecar.start({ appId: 'bindings-e2e', resourcesPath: dir, args: ['--app-port', String(app.port)] });
    await sc.waitForLog((l) => l.includes('input binding numbers reading'), 20_000);
  });
  after(async () => {
    await sc?.stop();
    await app?.close();
  });

  it('an operation that answers data is 200 with the data, its content type and metadata.<k> headers; POST and PUT alike', async () => {
    for (const method of ['POST', 'PUT']) {
      const r = await invoke('echo', { operation: 'echo', data: { hello: 'world' }, metadata: { key: 'k1', respContentType: 'application/x-thing' } }, method);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, '{"hello":"world"}');
      assert.equal(r.headers.get('content-type'), 'application/x-thing');
      assert.equal(r.headers.get('metadata.key'), 'k1');
      assert.equal(r.headers.get('metadata.operation'), 'echo');
    }
    const plain = await invoke('echo', { operation: 'echo', data: 1 });
    assert.equal(plain.headers.get('content-type'), 'application/json', 'no content type from the component: JSON');
  });

  it('data is re-marshalled as daprd re-marshals it: a string keeps its quotes, keys sorted, <>& escaped, absent data is null', async () => {
    const cases: Array<[string, string]> = [
      ['{"operation":"echo","data":"hi"}', '"hi"'],
      [
        '{"operation":"echo","data":{"b":1,"a":[true,null,1.5e-7,100000000000000000000000],"c":"<a&b>"}}',
        '{"a":[true,null,1.5e-7,1e+23],"b":1,"c":"\\u003ca\\u0026b\\u003e"}',
      ],
      ['{"operation":"echo","data":  12.50 }', '12.5'],
      ['{"operation":"echo"}', 'null'],
      ['{"operation":"echo","data":"\\u2028 é 😀"}', '"\\u2028 é 😀"'],
    ];
    for (const [body, bytes] of cases) {
      const r = await invoke('echo', body);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, bytes, `the component got ${body}'s data as ${bytes}`);
    }
  });

  it('field names match case-insensitively, as Go decodes them', async () => {
    const r = await invoke('echo', '{"Operation":"echo","DATA":"x","MetaData":{"k":"v"}}');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, '"x"');
    assert.equal(r.headers.get('metadata.k'), 'v');
  });

  it('no response object is 204; an empty response is 200 with an empty body', async () => {
    const none = await invoke('echo', { operation: 'none', data: 'x' });
    assert.equal(none.status, 204);
    assert.equal(none.text, '');
    const empty = await invoke('echo', { operation: 'empty' });
    assert.equal(empty.status, 200);
    assert.equal(empty.text, '');
  });

  it('caller and component errors are 500 ERR_INVOKE_OUTPUT_BINDING worded as daprd words them', async () => {
    const cases: Array<[string, unknown, string]> = [
      ['nope', { operation: 'echo' }, "error invoking output binding nope: couldn't find output binding nope"],
      ['echo', { data: 1 }, 'error invoking output binding echo: operation field is missing from request'],
      ['echo', { operation: '' }, 'error invoking output binding echo: operation field is missing from request'],
      [
        'echo',
        { operation: 'create' },
        'error invoking output binding echo: binding echo does not support operation create. supported operations:echo none empty fail bad emit stats',
      ],
      ['echo', { operation: 'fail' }, 'error invoking output binding echo: the fixture failed as asked'],
      ['echo', { operation: 'bad' }, 'error invoking output binding echo: metadata key is missing'],
    ];
    for (const [name, body, message] of cases) {
      const r = await invoke(name, body);
      assert.equal(r.status, 500, `${JSON.stringify(body)}: ${r.text}`);
      assert.deepEqual(r.body, { errorCode: 'ERR_INVOKE_OUTPUT_BINDING', message });
    }
  });

  it('a body daprd cannot decode is 400 ERR_MALFORMED_REQUEST: bad JSON, not an object, non-string metadata or operation', async () => {
    for (const body of [
      '{"operation":',
      '',
      '[1]',
      '"create"',
      '{"operation":"echo","metadata":{"n":1}}',
      '{"operation":"echo","metadata":[]}',
      '{"operation":5}',
    ]) {
      const r = await invoke('echo', body);
      assert.equal(r.status, 400, `${body}: ${r.text}`);
      const b = r.body as { errorCode: string; message: string };
      assert.equal(b.errorCode, 'ERR_MALFORMED_REQUEST');
      assert.match(b.message, /^failed deserializing HTTP body: /);
    }
  });

  it('the trace context reaches the component in the metadata', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const r = await sc.json('POST', '/v1.0/bindings/echo', { operation: 'echo' }, { traceparent, tracestate: 'congo=t61rcWkgMzE' });
    assert.equal(r.headers.get('metadata.traceparent'), traceparent);
    assert.equal(r.headers.get('metadata.tracestate'), 'congo=t61rcWkgMzE');
  });

  it('direction input refuses output as daprd does (no output binding of that name); direction output allows it', async () => {
    const r = await invoke('inonly', { operation: 'echo' });
    assert.equal(r.status, 500);
    assert.deepEqual(r.body, { errorCode: 'ERR_INVOKE_OUTPUT_BINDING', message: "error invoking output binding inonly: couldn't find output binding inonly" });
    assert.equal((await invoke('outonly', { operation: 'echo', data: 1 })).status, 200);
  });

  it('a binding scoped to another app is not loaded: no output binding of that name', async () => {
    const r = await invoke('scoped', { operation: 'echo' });
    assert.equal(r.status, 500);
    assert.equal((r.body as { message: string }).message, "error invoking output binding scoped: couldn't find output binding scoped");
  });

  it('the metadata API lists each binding with INPUT_BINDING / OUTPUT_BINDING as its direction allows', async () => {
    const r = await sc.json('GET', '/v1.0/metadata');
    const comps = (r.body as { components: Array<{ name: string; type: string; capabilities: string[] }> }).components;
    const caps = Object.fromEntries(comps.map((c) => [c.name, c.capabilities]));
    assert.deepEqual(caps.echo, ['INPUT_BINDING', 'OUTPUT_BINDING']);
    assert.deepEqual(caps.numbers, ['INPUT_BINDING', 'OUTPUT_BINDING']);
    assert.deepEqual(caps.inonly, ['INPUT_BINDING']);
    assert.deepEqual(caps.outonly, ['OUTPUT_BINDING']);
    assert.equal(caps.scoped, undefined);
    assert.equal(comps.find((c) => c.name === 'echo')!.type, FIXTURE);
  });

  it('direction input is read without a probe: every event reaches POST /<route> exactly once, with its metadata as headers, and is acked', async () => {
    await waitUntil(() => delivered('/numbers-in').length >= NUMBERS, `${NUMBERS} events on /numbers-in`, 15_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(app.on('OPTIONS', '/numbers-in').length, 0, 'no probe for an explicit input direction');
    const ns = delivered('/numbers-in');
    assert.deepEqual(
      [...ns].sort((a, b) => a - b),
      Array.from({ length: NUMBERS }, (_, i) => i + 1),
      'each event once',
    );
    const first = app.on('POST', '/numbers-in').find((r) => r.headers.n === '1')!;
    assert.equal(first.body, '{"n":1}');
    assert.equal(first.headers['content-type'], 'application/json');
    assert.equal(first.headers['x-fixture'], 'yes');
    assert.equal(first.headers['not a header'], undefined);
    await waitUntil(async () => (await stats('numbers')).acked === NUMBERS, 'all acked');
    const s = await stats('numbers');
    assert.equal(s.nacked, 0);
    assert.equal(new Set(s.ackedEvents).size, NUMBERS);
  });

  it('the OPTIONS probe: 405 counts as subscribed (events go to the route, with the event content type); 404 means not read', async () => {
    await waitUntil(() => delivered('/events').length >= 5, 'five events on /events');
    assert.equal(app.on('OPTIONS', '/events').length, 1, 'probed once');
    assert.equal(app.on('POST', '/events')[0]!.headers['content-type'], 'text/plain');
    assert.equal(app.on('OPTIONS', '/echo').length, 1, 'echo was probed');
    assert.equal(app.on('POST', '/echo').length, 0, 'and, refused, never delivered');
    assert.equal((await stats('echo')).opened, 0, 'nor even opened');
    await sc.waitForLog((l) => l.includes('app has not subscribed to binding echo'));
  });

  it('direction output is neither probed nor read', async () => {
    assert.equal(app.requests.filter((r) => r.path === '/outonly').length, 0);
    assert.equal((await stats('outonly')).opened, 0);
  });

  it("an app answering 500 gets the event retried per the inbound policy (5 retries), then nacked with daprd's error, then redelivered until taken; nothing lost", async () => {
    await waitUntil(() => flakyRefusals >= 8 && new Set(delivered('/flaky')).size === 10, 'flaky: all ten events, event 3 taken at last', 20_000);
    await waitUntil(async () => (await stats('flaky')).acked === 10, 'flaky: ten acked');
    const s = await stats('flaky');
    const attempts = delivered('/flaky').filter((n) => n === 3).length;
    assert.equal(attempts, 9, 'six attempts (1 + 5 retries), nacked, redelivered: two more refusals and the one taken');
    assert.deepEqual(s.nackedEvents, [3], 'one nack, for event 3');
    assert.match(s.nackErrors[0]!, /^fails to send binding event to http app channel, status code: 500 body: not now$/);
    assert.deepEqual(
      [...s.ackedEvents].sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      'each event acked once, none lost',
    );
  });

  it('events emitted while running are delivered too', async () => {
    const before = delivered('/numbers-in').length;
    for (let i = 0; i < 3; i++) assert.equal((await invoke('numbers', { operation: 'emit', data: { late: i } })).status, 204);
    await waitUntil(() => delivered('/numbers-in').length === before + 3, 'three late events');
    const bodies = app
      .on('POST', '/numbers-in')
      .slice(-3)
      .map((r) => r.body)
      .sort();
    assert.deepEqual(bodies, ['{"late":0}', '{"late":1}', '{"late":2}']);
  });

  it("output calls run under the binding's outbound resiliency policy: a failure is retried, an invalid-argument answer is not", async () => {
    const before = (await stats('echo')).invoked;
    assert.equal((await invoke('echo', { operation: 'fail' })).status, 500);
    assert.equal((await invoke('echo', { operation: 'bad' })).status, 500);
    const after = (await stats('echo')).invoked;
    assert.equal((after.fail ?? 0) - (before.fail ?? 0), 3, 'fail: 1 + 2 retries');
    assert.equal((after.bad ?? 0) - (before.bad ?? 0), 1, 'bad: not retried');
  });

  it('hot reload: a changed binding gets a new loop on its new version, which is read from the start', async () => {
    await waitUntil(() => delivered('/inonly').length === 2, 'inonly: its two events');
    writeComponent(dir, 'inonly.yaml', 'inonly', FIXTURE, { events: '4', direction: 'input' });
    await waitUntil(() => delivered('/inonly').length === 6, 'inonly: four more from the new version', 15_000);
    assert.deepEqual(delivered('/inonly').slice(2).sort(), [1, 2, 3, 4]);
    await sc.waitForLog((l) => l.includes('component inonly') && l.includes('reloaded'));
  });
});

describe('bindings: an input binding whose app is down loses nothing', () => {
  let sc: Sidecar;
  let app: BindingApp;

  before(async () => {
    const dir = tempDir('bindings-down');
    copyFileSync(join(TEST_COMPONENTS, `${FIXTURE}.wasm`), join(dir, `${FIXTURE}.wasm`));
    writeComponent(dir, 'jobs.yaml', 'jobs', FIXTURE, { direction: 'input,output' });
    app = await BindingApp.start();
    sc = await Sidecar.start({ appId: 'bindings-down', resourcesPath: dir, args: ['--app-port', String(app.port)] });
    await sc.waitForLog((l) => l.includes('input binding jobs reading'), 20_000);
  });
  after(async () => {
    await sc?.stop();
    await app?.close();
  });

  it('events produced while the app is down are nacked after the retries, then all delivered once it is back', async () => {
    const port = app.port;
    await app.close();
    for (let i = 0; i < 20; i++) assert.equal((await sc.json('POST', '/v1.0/bindings/jobs', { operation: 'emit', data: { job: i } })).status, 204);
    const stats = async () => (await sc.json('POST', '/v1.0/bindings/jobs', { operation: 'stats' })).body as Stats;
    await waitUntil(async () => (await stats()).nacked >= 20, 'every event nacked while the app is down', 15_000);
    const s = await stats();
    assert.equal(s.acked, 0, 'nothing acked while the app is down');
    assert.match(s.nackErrors[0]!, /^error invoking app: /);
    app = await BindingApp.start(port);
    await waitUntil(async () => (await stats()).acked === 20, 'all twenty acked once the app is back', 20_000);
    const jobs = new Set(app.on('POST', '/jobs').map((r) => (JSON.parse(r.body) as { job: number }).job));
    assert.deepEqual(
      [...jobs].sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.equal(new Set((await stats()).ackedEvents).size, 20, 'each acked once');
  });
});

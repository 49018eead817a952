/**
 * The request rules in their one place each: the TTL rule, Go's field-name matching and the JSON nesting limit.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { checkTtl, InvalidTtl, MAX_EXPIRY_MS, MAX_TTL_CHARS, withCheckedTtl } from '../../host/src/blocks/ttl.js';
import { parseDuration } from '../../host/src/duration.js';
import { goFields, JsonTooDeep, MAX_JSON_DEPTH, nestingExceeds, parseRequestJson } from '../../host/src/request-json.js';
import { goMapJson } from '../../host/src/blocks/pubsub/cloudevents.js';

const NOW = Date.UTC(2026, 0, 1);

it('ttl: -1 and absent are no expiry; whole seconds (Go ParseInt form) pass; the expiry may reach 9999-12-31T23:59:59Z and no further', () => {
  for (const none of [undefined, '', '-1']) assert.equal(checkTtl(none, { now: NOW }), undefined);
  assert.deepEqual(checkTtl('0', { now: NOW }), { ms: 0 });
  assert.deepEqual(checkTtl('+5', { now: NOW }), { ms: 5000 });
  const last = (MAX_EXPIRY_MS - NOW) / 1000;
  assert.deepEqual(checkTtl(String(last), { now: NOW }), { ms: last * 1000 });
  assert.throws(
    () => checkTtl(String(last + 1), { now: NOW }),
    (e: unknown) => e instanceof InvalidTtl && /ttlInSeconds.*9999-12-31T23:59:59Z/.test(e.message),
  );
  for (const bad of ['abc', '1.5', '-5', ' 5', '5 ', '1e3', '0x10', '10s', '9000000000000']) {
    assert.throws(
      () => checkTtl(bad, { now: NOW }),
      (e: unknown) => e instanceof InvalidTtl && /metadata\.ttlInSeconds/.test(e.message),
      bad,
    );
  }
});

it('ttl: publish also takes a Go duration, passed on to components as whole seconds rounded up; -1 is removed for publish, kept for state', () => {
  assert.deepEqual(checkTtl('1m30s', { durations: true, now: NOW }), { ms: 90_000 });
  assert.throws(() => checkTtl('-5s', { durations: true, now: NOW }), InvalidTtl);
  assert.deepEqual(withCheckedTtl({ ttlInSeconds: '1500ms', a: 'b' }, { ms: 1500 }, false), { ttlInSeconds: '2', a: 'b' });
  assert.deepEqual(withCheckedTtl({ ttlInSeconds: '-1' }, undefined, false), {});
  assert.deepEqual(withCheckedTtl({ ttlInSeconds: '-1' }, undefined, true), { ttlInSeconds: '-1' });
  assert.deepEqual(withCheckedTtl({ ttlInSeconds: '+7' }, { ms: 7000 }, true), { ttlInSeconds: '7' });
});

it(`ttl: a value longer than ${MAX_TTL_CHARS} characters is refused at once, naming the field; Go durations parse in linear time`, () => {
  for (const raw of [`${'1'.repeat(100_000)}x`, '1'.repeat(100_000)]) {
    const t0 = performance.now();
    assert.throws(
      () => checkTtl(raw, { durations: true, now: NOW }),
      (e: unknown) => e instanceof InvalidTtl && /metadata\.ttlInSeconds.*longer than/.test(e.message) && e.message.length < 200,
    );
    assert.ok(performance.now() - t0 < 50, `refused in ${performance.now() - t0} ms`);
  }
  assert.deepEqual(checkTtl('1h2m3s4ms5us6ns', { durations: true, now: NOW }), { ms: 3_723_004.005006 });
  const t0 = performance.now();
  assert.equal(parseDuration(`${'1'.repeat(20_000)}x`), undefined);
  assert.equal(parseDuration(`${'1s'.repeat(1000)}1`), undefined);
  assert.ok(performance.now() - t0 < 50, `parseDuration took ${performance.now() - t0} ms`);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('1.5h.5s'), 5_400_500);
  for (const bad of ['1', 's', '1x', '1s1', '-1s']) assert.equal(parseDuration(bad), undefined, bad);
});

it('field names: exact first, else case-insensitive as Go folds (incl. U+212A and U+017F); the last matching key wins; others dropped', () => {
  assert.deepEqual(goFields({ entryID: 'a', EVENT: 1, other: 2 }, ['entryId', 'event'] as const), { entryId: 'a', event: 1 });
  assert.deepEqual(goFields({ key: 'a', KEY: 'b' }, ['key'] as const), { key: 'b' });
  assert.deepEqual(goFields({ '\u212aey': 'kelvin', '\u017fize': 'long s' }, ['key', 'size'] as const), { key: 'kelvin', size: 'long s' });
  assert.deepEqual(goFields({ kéy: 1, 'ke y': 2 }, ['key'] as const), {});
});

it(`JSON: nesting deeper than ${MAX_JSON_DEPTH} is refused before parsing; brackets inside strings do not count`, () => {
  const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
  assert.doesNotThrow(() => parseRequestJson(nest(MAX_JSON_DEPTH)));
  assert.throws(() => parseRequestJson(nest(MAX_JSON_DEPTH + 1)), JsonTooDeep);
  assert.equal(nestingExceeds(`["${'['.repeat(5000)}\\"${'{'.repeat(5000)}"]`, 2), false);
  assert.throws(
    () => parseRequestJson('{"a":'),
    (e: unknown) => e instanceof Error && !(e instanceof JsonTooDeep),
  );
});

it('CloudEvent JSON: top-level keys in byte order as Go sorts map keys; raw data embedded verbatim; undefined left out', () => {
  assert.equal(
    goMapJson({ type: 't', id: '1', data_base64: 'AA', datacontenttype: 'x', skip: undefined }),
    '{"data_base64":"AA","datacontenttype":"x","id":"1","type":"t"}',
  );
  assert.equal(goMapJson({ topic: 'a', data: 'ignored' }, '{"z":1,"n":12345678901234567890}'), '{"data":{"z":1,"n":12345678901234567890},"topic":"a"}');
  assert.equal(goMapJson({ é: 1, z: 2, Z: 3, '\u{1F600}': 4, '\uffff': 5 }), '{"Z":3,"z":2,"é":1,"\uffff":5,"\u{1F600}":4}');
});

it('CloudEvent JSON: the same bytes as writing key by key in code-point order, for integer-like, __proto__, astral and empty keys, with and without raw data', () => {
  // The reference: Go's json.Marshal of a map, written out one key at a time.
  const reference = (event: Record<string, unknown>, rawData?: string) => {
    const keys = Object.keys(event).filter((k) => event[k] !== undefined && !(rawData !== undefined && k === 'data'));
    if (rawData !== undefined) keys.push('data');
    const cp = (k: string) => [...k].map((c) => c.codePointAt(0)!);
    keys.sort((a, b) => {
      const x = cp(a),
        y = cp(b);
      for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
      return x.length - y.length;
    });
    return `{${keys.map((k) => `${JSON.stringify(k)}:${k === 'data' && rawData !== undefined ? rawData : JSON.stringify(event[k])}`).join(',')}}`;
  };
  const events: Record<string, unknown>[] = [
    {},
    { data: 1 },
    {
      id: 'x',
      specversion: '1.0',
      type: 't',
      source: 's',
      topic: 'a',
      pubsubname: 'p',
      traceid: 't',
      traceparent: 't',
      tracestate: '',
      time: 'now',
      datacontenttype: 'application/json',
      expiration: 'e',
    },
    { 10: 'ten', 9: 'nine', a: 1, '01': 2, '4294967295': 3 },
    JSON.parse('{"__proto__":{"x":1},"b":[1,{"z":0,"a":1}],"":"empty","\\ud83d\\ude00":1,"\\uffff":2,"aa":null}') as Record<string, unknown>,
    { zz: 'last', a: 'first' },
  ];
  for (const e of events) {
    assert.equal(goMapJson(e), reference(e), JSON.stringify(e));
    for (const raw of ['{"n":12345678901234567890,"b":1}', '"s"']) assert.equal(goMapJson(e, raw), reference(e, raw), JSON.stringify(e));
  }
});

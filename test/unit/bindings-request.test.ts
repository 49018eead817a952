/**
 * How an output binding request body becomes what the component gets, as daprd decodes it into its
 * `OutputBindingRequest` and re-marshals `data` with Go's `json.Marshal`.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { goMarshal } from '../../host/src/request-json.js';
import { parseOutputBindingBody } from '../../host/src/api/http/bindings.js';
import { MortarError } from '../../host/src/errors.js';

const data = (body: string) => parseOutputBindingBody(Buffer.from(body)).data.toString('utf8');

it('goMarshal writes what Go writes for the interface{} it decoded: sorted keys, HTML-safe, -0 kept', () => {
  assert.equal(goMarshal({ b: 1, a: { d: [1, 'x'], c: null } }), '{"a":{"c":null,"d":[1,"x"]},"b":1}');
  assert.equal(goMarshal('<a href="x">&</a>'), '"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e"');
  assert.equal(goMarshal('\u2028\u2029'), '"\\u2028\\u2029"');
  assert.equal(goMarshal(-0), '-0');
  assert.equal(goMarshal([1e21, 1e-7, 0.000001, 123456789012345680000, 1.5]), '[1e+21,1e-7,0.000001,123456789012345680000,1.5]');
  assert.equal(goMarshal('tab\tnl\ncontrol\u0001'), '"tab\\tnl\\ncontrol\\u0001"');
});

it('goMarshal sorts keys by their UTF-8 bytes, as Go sorts map keys, and replaces a lone surrogate with U+FFFD', () => {
  // By UTF-16 code units U+1F600 (D83D DE00) sorts before U+FF5E; by UTF-8 bytes (F0 9F.. > EF BD..) after it, as in Go.
  assert.equal(goMarshal({ '😀': 1, '～': 2, z: 3 }), '{"z":3,"～":2,"😀":1}');
  assert.equal(goMarshal(JSON.parse('"a\\ud800b"')), '"a\ufffdb"');
});

it('the request body: data re-marshalled (absent is null), operation and metadata decoded as Go decodes them', () => {
  assert.equal(data('{"operation":"create","data":"hi"}'), '"hi"');
  assert.equal(data('{"operation":"create"}'), 'null');
  assert.equal(data('null'), 'null');
  const r = parseOutputBindingBody(Buffer.from('{"OPERATION":"get","metadata":{"a":"1","b":null}}'));
  assert.equal(r.operation, 'get');
  assert.deepEqual(r.metadata, { a: '1', b: '' });
});

it('a body Go cannot decode into the request is ERR_MALFORMED_REQUEST', () => {
  for (const body of ['', '{', '[]', '1', '{"operation":1}', '{"metadata":"x"}', '{"metadata":{"n":2}}']) {
    assert.throws(
      () => parseOutputBindingBody(Buffer.from(body)),
      (e: unknown) => e instanceof MortarError && e.code === 'ERR_MALFORMED_REQUEST' && e.http === 400,
      body,
    );
  }
});

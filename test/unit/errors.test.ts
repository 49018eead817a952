import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { catalogue, MortarError, toDaprBody, type ErrorCode } from '../../host/src/errors.js';
import { ROOT } from '../helpers/sidecar.js';

const codes = Object.keys(catalogue) as ErrorCode[];

it('the catalogue has the expected number of codes (update docs/errors.md when it changes)', () => {
  assert.equal(codes.length, 41);
});

it('every key equals its code, is SCREAMING_SNAKE with the ERR_ prefix, and has a sane status', () => {
  for (const code of codes) {
    const e = new MortarError(code, ['a', 'b', 'c']);
    assert.equal(e.code, code);
    assert.match(code, /^ERR_[A-Z_]+$/);
    assert.ok(e.http >= 400 && e.http < 600, code);
  }
});

it('every code is documented in docs/errors.md', () => {
  const doc = readFileSync(`${ROOT}docs/errors.md`, 'utf8');
  for (const code of codes) assert.ok(doc.includes(`### ${code}`), `${code} documented`);
});

it('instanceof works by brand across copies, and the Dapr body carries ErrorInfo when the entry has a reason', () => {
  const e = new MortarError('ERR_STATE_STORE_NOT_FOUND', ['mystore']);
  const foreign = Object.assign(Object.create(Error.prototype), { [Symbol.for('mortar.error')]: true });
  assert.ok(foreign instanceof MortarError);
  assert.ok(!(new Error('x') instanceof MortarError));
  assert.deepEqual(toDaprBody(e, 'app1'), {
    errorCode: 'ERR_STATE_STORE_NOT_FOUND',
    message: 'state store mystore is not found',
    details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'DAPR_STATE_NOT_FOUND', domain: 'dapr.io', metadata: { appID: 'app1' } }],
  });
  assert.deepEqual(toDaprBody(new MortarError('ERR_MALFORMED_REQUEST', ['bad']), 'x'), { errorCode: 'ERR_MALFORMED_REQUEST', message: 'bad' });
});

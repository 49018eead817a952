/**
 * Grant normalisation of the http (by origin) and directory (by absolute path) kinds: which spellings of a
 * granted value reach it, and which values grant nothing.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { directoryOf, grantsFromSchema, normalise, originOf } from '../../host/src/capabilities/grants.js';

it('http grants compare by origin: scheme, lower-case host, port with 80/443 written out; path, query and credentials dropped', () => {
  assert.equal(originOf('http://Api.Example.com/v1/orders?x=1#f'), 'http://api.example.com:80');
  assert.equal(originOf('https://api.example.com'), 'https://api.example.com:443');
  assert.equal(originOf('https://api.example.com:443/'), 'https://api.example.com:443');
  assert.equal(originOf('HTTP://h:8080'), 'http://h:8080');
  assert.equal(originOf('http://user:secret@h/'), 'http://h:80');
  assert.equal(originOf('http://[::1]:3000/x'), 'http://[::1]:3000');
  assert.equal(normalise('http', ' http://h '), 'http://h:80');
});

it('http grants: a value that is no http(s) URL grants nothing, and a malformed request URL matches no grant', () => {
  for (const v of ['ftp://h', 'h:8080', 'api.example.com', 'file:///etc/passwd', 'not a url', '']) assert.equal(originOf(v), undefined, v);
  const schema = { properties: { url: { type: 'string', 'x-mortar-grant': 'http' }, bad: { type: 'string', 'x-mortar-grant': 'http' } } };
  const g = grantsFromSchema(schema, { url: 'https://api.example.com/v1', bad: 'not a url' });
  assert.ok(g.allows('http', 'https://API.example.com:443/v2/other?q'), 'any path of the granted origin');
  assert.ok(!g.allows('http', 'http://api.example.com/v1'), 'another scheme is another origin');
  assert.ok(!g.allows('http', 'https://api.example.com:8443/v1'), 'another port is another origin');
  assert.ok(!g.allows('http', 'https://evil.example.com/v1'));
  assert.ok(!g.allows('http', 'not a url'), 'two values that name no origin do not match each other');
  assert.ok(!g.allows('redis', 'api.example.com:443'), 'a grant is for its own capability only');
});

it('directory grants compare by absolute normalised path; a relative value is taken from the working directory', () => {
  assert.equal(directoryOf('/data/x/../y/'), '/data/y');
  assert.equal(directoryOf('/data/./y//'), '/data/y');
  assert.equal(directoryOf('files'), join(process.cwd(), 'files'));
  assert.equal(directoryOf('./files/'), resolve('files'));
  assert.equal(directoryOf(''), undefined);
  assert.equal(directoryOf('/data/\u0000y'), undefined);
  const schema = { properties: { rootPath: { type: 'string', 'x-mortar-grant': 'directory' } } };
  const g = grantsFromSchema(schema, { rootPath: '/data/y/' });
  assert.ok(g.allows('directory', '/data/y') && g.allows('directory', '/data/z/../y'));
  assert.ok(!g.allows('directory', '/data'), 'not a directory above it');
  assert.ok(!g.allows('directory', '/data/y/sub'), 'not a directory below it: the component opens the root and works inside it');
  assert.ok(!g.allows('directory', '/data/\u0000y'));
  const rel = grantsFromSchema(schema, { rootPath: 'files' });
  assert.ok(rel.allows('directory', join(process.cwd(), 'files')));
});

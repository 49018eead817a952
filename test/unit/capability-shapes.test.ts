/**
 * The capability shapes (host/src/capabilities/shapes.ts) against the WIT, read by jco's own tools: every
 * function, static and method of `wit/deps/host/*.wit` has its entry and every entry its WIT, the sandbox's
 * imports carry the names jco calls, and the capability thread routes every operation.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { componentEmbed, types } from '@bytecodealliance/jco';
import { CAPABILITY_SHAPES, IN_SANDBOX, dropOp, jcoClassName, jcoFunctionName, opName } from '../../host/src/capabilities/shapes.js';
import { guestImports } from '../../host/src/capabilities/guest-imports.js';
import { ComponentHostEndpoint } from '../../host/src/capabilities/host-endpoint.js';
import { Grants } from '../../host/src/capabilities/grants.js';
import { RedisClients } from '../../host/src/capabilities/redis.js';
import { SqlDatabases } from '../../host/src/capabilities/sql.js';
import { ROOT, tempDir } from '../helpers/sidecar.js';

const HOST_WIT = join(ROOT, 'wit/deps/host');
/** Interface names, one per file (`redis.wit` defines `interface redis`: the embed below fails otherwise). */
const interfaces = readdirSync(HOST_WIT)
  .filter((f) => f.endsWith('.wit'))
  .map((f) => f.slice(0, -'.wit'.length))
  .sort();

/** What the WIT declares, per interface: free functions and, per resource, statics and methods (WIT names). */
type Declared = Record<string, { functions: string[]; resources: Record<string, { statics: string[]; methods: string[] }> }>;

/**
 * The host package with one more world that imports every interface, as wasm-tools (through jco) resolves it:
 * the canonical-ABI names of a dummy module's imports (`[static]connection.open`, `[method]connection.command`)
 * are the WIT's own functions, statics and methods.
 */
async function declared(dir: string): Promise<Declared> {
  const bytes = await componentEmbed({ dummy: true, witPath: dir, world: 'probe-all' });
  const out: Declared = {};
  for (const i of WebAssembly.Module.imports(new WebAssembly.Module(new Uint8Array(bytes)))) {
    const m = /^(?:cm32p2\|)?mortar:host\/([a-z0-9-]+)@/.exec(i.module);
    if (!m) continue;
    const iface = (out[m[1]!] ??= { functions: [], resources: {} });
    const member = /^\[(static|method)\]([a-z0-9-]+)\.([a-z0-9-]+)$/.exec(i.name);
    if (member) {
      const r = (iface.resources[member[2]!] ??= { statics: [], methods: [] });
      (member[1] === 'static' ? r.statics : r.methods).push(member[3]!);
    } else if (/^\[constructor\]/.test(i.name)) {
      assert.fail(`${i.module} ${i.name}: constructors are not carried by the bridge (use a static)`);
    } else if (!/_drop$|^\[resource-drop\]/.test(i.name)) {
      iface.functions.push(i.name);
    }
  }
  return out;
}

/** The names jco's generated host types give one interface: functions, and per class its statics and methods. */
function jcoNames(source: string): { functions: string[]; classes: Record<string, { statics: string[]; methods: string[] }> } {
  const file = ts.createSourceFile('x.d.ts', source, ts.ScriptTarget.ES2022);
  const out = { functions: [] as string[], classes: {} as Record<string, { statics: string[]; methods: string[] }> };
  const nameOf = (n: ts.PropertyName | undefined) => (n && (ts.isIdentifier(n) || ts.isStringLiteral(n)) ? n.text : undefined);
  for (const s of file.statements) {
    if (ts.isFunctionDeclaration(s) && s.name) out.functions.push(s.name.text);
    if (ts.isClassDeclaration(s) && s.name) {
      const c = (out.classes[s.name.text] = { statics: [] as string[], methods: [] as string[] });
      for (const m of s.members) {
        if (!ts.isMethodDeclaration(m)) continue; // the private constructor
        const name = nameOf(m.name);
        if (name === undefined) continue; // [Symbol.dispose]
        const isStatic = ts.getModifiers(m)?.some((x) => x.kind === ts.SyntaxKind.StaticKeyword) ?? false;
        (isStatic ? c.statics : c.methods).push(name);
      }
    }
  }
  return out;
}

const sorted = (xs: readonly string[]) => [...xs].sort();

describe('capability shapes against the WIT', () => {
  let dir: string;
  let wit: Declared;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mortar-host-wit-'));
    for (const f of readdirSync(HOST_WIT)) copyFileSync(join(HOST_WIT, f), join(dir, f));
    writeFileSync(join(dir, 'zz-probe-all.wit'), `world probe-all {\n${interfaces.map((i) => `  import ${i};\n`).join('')}}\n`);
    wit = await declared(dir);
  });

  it('every interface of wit/deps/host is a bridged capability or served in the sandbox, and no shape lacks its WIT', () => {
    assert.deepEqual(sorted([...Object.keys(CAPABILITY_SHAPES), ...IN_SANDBOX]), interfaces);
  });

  it('every function, static and method of the WIT has its shape entry, and every entry its WIT', () => {
    for (const [name, shape] of Object.entries(CAPABILITY_SHAPES)) {
      const w = wit[name];
      assert.ok(w, `mortar:host/${name} is not in the WIT`);
      assert.deepEqual(sorted(shape.functions), sorted(w.functions), `${name}: free functions`);
      assert.deepEqual(sorted(Object.keys(shape.resources)), sorted(Object.keys(w.resources)), `${name}: resources`);
      for (const [r, rs] of Object.entries(shape.resources as Record<string, { statics: readonly string[]; methods: readonly string[] }>)) {
        assert.deepEqual(sorted(rs.statics), sorted(w.resources[r]!.statics), `${name}.${r}: statics`);
        assert.deepEqual(sorted(rs.methods), sorted(w.resources[r]!.methods), `${name}.${r}: methods`);
      }
    }
  });

  it('the names the shapes derive for JavaScript are the ones jco generates for the WIT', async () => {
    const files = await types(dir, { worldName: 'probe-all' });
    for (const [name, shape] of Object.entries(CAPABILITY_SHAPES)) {
      const source = files[`interfaces/mortar-host-${name}.d.ts`];
      assert.ok(source, `jco generated no types for mortar:host/${name}`);
      const jco = jcoNames(Buffer.from(source).toString());
      assert.deepEqual(sorted(jco.functions), sorted(shape.functions.map(jcoFunctionName)), `${name}: functions`);
      const resources = shape.resources as Record<string, { statics: readonly string[]; methods: readonly string[] }>;
      assert.deepEqual(sorted(Object.keys(jco.classes)), sorted(Object.keys(resources).map(jcoClassName)), `${name}: classes`);
      for (const [r, rs] of Object.entries(resources)) {
        const c = jco.classes[jcoClassName(r)]!;
        assert.deepEqual(sorted(c.statics), sorted(rs.statics.map(jcoFunctionName)), `${name}.${r}: statics`);
        assert.deepEqual(sorted(c.methods), sorted(rs.methods.map(jcoFunctionName)), `${name}.${r}: methods`);
      }
    }
  });

  it("the sandbox's imports forward each function, static and method as its operation, and a dropped handle as the drop", () => {
    const calls: Array<[string, unknown[]]> = [];
    const opened: unknown[][] = [];
    const imports = guestImports(
      (op, args) => {
        calls.push([op, args]);
        return 7;
      },
      { redis: (args) => opened.push(args) },
    );
    for (const [name, shape] of Object.entries(CAPABILITY_SHAPES)) {
      const iface = imports[`mortar:host/${name}`] as Record<string, unknown>;
      for (const fn of shape.functions as readonly string[]) {
        (iface[jcoFunctionName(fn)] as (...a: unknown[]) => unknown)('x');
        assert.deepEqual(calls.pop(), [opName(name, undefined, fn), ['x']]);
      }
      for (const [r, rs] of Object.entries(shape.resources as Record<string, { statics: readonly string[]; methods: readonly string[] }>)) {
        const cls = iface[jcoClassName(r)] as Record<string, (...a: unknown[]) => Record<string | symbol, (...a: unknown[]) => unknown>>;
        for (const s of rs.statics) {
          const handle = cls[jcoFunctionName(s)]!('a', 'b');
          assert.deepEqual(calls.pop(), [opName(name, r, s), ['a', 'b']]);
          for (const m of rs.methods) {
            handle[jcoFunctionName(m)]!('y');
            assert.deepEqual(calls.pop(), [opName(name, r, m), [7, 'y']]);
          }
          handle[Symbol.dispose]!();
          assert.deepEqual(calls.pop(), [dropOp(name, r), [7]]);
        }
      }
    }
    assert.deepEqual(opened, [['a', 'b']], 'the redis hook saw the one redis open');
  });

  it('the capability thread routes every operation of the shapes, and refuses one it does not know', async () => {
    const endpoint = new ComponentHostEndpoint(
      'shapes',
      new Grants(),
      { redis: new RedisClients(), sql: new SqlDatabases(tempDir('shapes')) },
      {
        trace() {},
        debug() {},
        info() {},
        warn() {},
        error() {},
      },
    );
    const outcome = (op: string, args: unknown[]) =>
      endpoint.dispatch(op, args, 1000).then(
        () => 'ok',
        (e: { val?: string }) => String(e?.val ?? e),
      );
    for (const [name, shape] of Object.entries(CAPABILITY_SHAPES)) {
      for (const fn of shape.functions as readonly string[]) assert.doesNotMatch(await outcome(opName(name, undefined, fn), []), /unknown host import/);
      for (const [r, rs] of Object.entries(shape.resources as Record<string, { statics: readonly string[]; methods: readonly string[] }>)) {
        // Nothing is granted: a constructor is refused before it reaches anything.
        for (const s of rs.statics) assert.doesNotMatch(await outcome(opName(name, r, s), [{}]), /unknown host import/);
        for (const m of rs.methods) assert.equal(await outcome(opName(name, r, m), [999]), `invalid ${name}.${r} handle`);
        assert.equal(await outcome(dropOp(name, r), [999]), 'ok');
      }
    }
    assert.equal(await outcome('redis.connection.flush', [1]), 'unknown host import redis.connection.flush');
    await endpoint.close();
  });
});

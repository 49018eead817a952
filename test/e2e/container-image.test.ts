/**
 * The sidecar run the way the container image runs it, where no container engine does: the install tree the
 * Containerfile's final stage copies, laid out under its WORKDIR in a temp dir and made read-only to the
 * process, started as the image's user (its numeric USER when the tests run as root, as they do in CI;
 * otherwise the current user, with the tree's write bits removed) with the image's ENV, first with the
 * image's default command and then with the args and components of deploy/shared/deployment.yaml.
 *
 * What it proves: a first start, a state save on the embedded SQLite store, a user component transpiled into
 * the cache and a graceful SIGTERM write nothing outside --data-dir: the install tree, node_modules, HOME
 * and the temp dir list the same entries, sizes, modes and mtimes before and after, and (as root) no file
 * anywhere under /tmp, /var/tmp or /dev/shm but the data dir belongs to the image's user.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, lstatSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execForm, instructions, parseContainerfile, parseCopy, parseEnv } from '../helpers/containerfile.js';
import { RawGrpc } from '../helpers/grpc.js';
import { readManifests } from '../helpers/k8s.js';
import { freePort, ROOT, TEST_COMPONENTS, tempDir, writeComponent } from '../helpers/sidecar.js';

const finalStage = parseContainerfile().stages.at(-1)!;
const imageEnv = new Map(instructions(finalStage, 'ENV').flatMap((e) => [...parseEnv(e.args)]));
const [imageUid, imageGid] = instructions(finalStage, 'USER')[0]!.args.split(':').map(Number) as [number, number];
const entrypoint = execForm(instructions(finalStage, 'ENTRYPOINT')[0]!.args);
const defaultCmd = execForm(instructions(finalStage, 'CMD')[0]!.args);
/**
 * Whether another user can reach `path`: every folder above it lets others through (`o+x`). A checkout under
 * a private home (`/root`, mode 700) cannot be run as the image's user.
 */
function othersReach(path: string): boolean {
  const parts = realpathSync(path).split('/').filter(Boolean);
  return parts.every((_, i) => (lstatSync(`/${parts.slice(0, i).join('/')}`).mode & 0o001) !== 0);
}
/** As root (CI), the sidecar runs as the image's user, if that user can reach this checkout and Node. */
const asRoot = process.getuid?.() === 0 && othersReach(join(ROOT, 'node_modules')) && othersReach(process.execPath);
/** Who the sidecar runs as: the image's user when we may switch to it, else ourselves (write bits removed). */
const runAs = asRoot ? { uid: imageUid, gid: imageGid } : {};

/** The final stage's tree: each `COPY --from=build /src/<path> ./<path>` from this checkout (its build is the same). */
function layInstallTree(dir: string): void {
  for (const i of instructions(finalStage, 'COPY')) {
    const c = parseCopy(i.args);
    for (const src of c.sources) {
      const rel = src.replace(/^\/src\//, '');
      const dest = join(dir, c.dest.replace(/^\.\//, ''));
      // node_modules is linked, not copied (hundreds of MB); it is watched for writes like the rest.
      if (rel === 'node_modules') symlinkSync(join(ROOT, 'node_modules'), dest);
      else cpSync(join(ROOT, rel), dest, { recursive: true, verbatimSymlinks: true });
    }
  }
}

/** Removes (or restores) the write bits of everything under `dir`, not following symbolic links. */
function setWritable(dir: string, writable: boolean): void {
  const st = lstatSync(dir);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) for (const n of readdirSync(dir)) setWritable(join(dir, n), writable);
  chmodSync(dir, writable ? st.mode | 0o200 : st.mode & ~0o222);
}

/** Every entry under `dir` (symbolic links not followed) with its type, size, mode and mtime. */
function snapshot(dir: string, out = new Map<string, string>(), base = dir): Map<string, string> {
  const st = lstatSync(dir);
  out.set(dir.slice(base.length) || '.', `${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'} ${st.size} ${st.mode.toString(8)} ${st.mtimeMs}`);
  if (st.isDirectory()) for (const n of readdirSync(dir)) snapshot(join(dir, n), out, base);
  return out;
}

/** What changed between two snapshots, as `+path`, `-path` and `~path` lines. */
function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [p, v] of after)
    if (!before.has(p)) out.push(`+${p}`);
    else if (before.get(p) !== v) out.push(`~${p} (${before.get(p)} -> ${v})`);
  for (const p of before.keys()) if (!after.has(p)) out.push(`-${p}`);
  return out;
}

/** Files under the world-writable roots that belong to `uid`, outside `except` (entries that vanish mid-walk are skipped). */
function ownedBy(uid: number, roots: readonly string[], except: readonly string[]): string[] {
  const found: string[] = [];
  const walk = (p: string) => {
    if (except.some((e) => p === e || p.startsWith(`${e}/`))) return;
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    if (st.uid === uid) found.push(p);
    if (!st.isDirectory()) return;
    let names: string[] = [];
    try {
      names = readdirSync(p);
    } catch {
      return;
    }
    for (const n of names) walk(join(p, n));
  };
  for (const r of roots) if (existsSync(r)) walk(r);
  return found;
}

/** The parts of deploy/shared's container read here. */
interface Container {
  name: string;
  args: string[];
  startupProbe: { httpGet: { path: string } };
  readinessProbe: { httpGet: { path: string } };
}

interface Run {
  readonly logs: string[];
  readonly url: string;
  stop(): Promise<number | null>;
}

/** Starts `mortar <args>` from the install tree as the image would (its entrypoint resolves to bin/mortar.js). */
async function start(install: string, args: string[], env: Record<string, string>, port: number): Promise<Run> {
  assert.deepEqual(entrypoint, ['mortar']);
  const proc = spawn(process.execPath, [join(install, 'bin/mortar.js'), ...args], {
    cwd: install,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MORTAR_LOG_FORMAT: 'text', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...runAs,
  });
  const logs: string[] = [];
  const collect = (b: Buffer) => logs.push(...b.toString('utf8').split('\n').filter(Boolean));
  proc.stdout.on('data', collect);
  proc.stderr.on('data', collect);
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`mortar exited with ${proc.exitCode}:\n${logs.join('\n')}`);
    if (Date.now() > deadline) throw new Error(`mortar not started after 30 s:\n${logs.join('\n')}`);
    const ok = await fetch(`${url}/v1.0/healthz/outbound`).then(
      (r) => r.status === 204,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    logs,
    url,
    stop: () => {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

describe('the sidecar run as the container image runs it (read-only install tree, non-root, writes only under --data-dir)', () => {
  let install: string;
  let home: string;
  let tmp: string;
  const dirs: string[] = [];
  /** Every data dir handed to a sidecar here (each belongs to the image's user). */
  const dataDirs: string[] = [];
  /** Snapshots of what must not change: the install tree, node_modules, HOME and the temp dir. */
  let watched: () => Map<string, Map<string, string>>;

  before(() => {
    if (process.getuid?.() === 0 && !asRoot) {
      process.stderr.write(`container-image: ${ROOT} is out of reach of uid ${imageUid}: running as root, checked by snapshots only\n`);
    }
    install = tempDir('image');
    layInstallTree(install);
    setWritable(install, false);
    chmodSync(install, 0o555);
    // HOME is the data dir in the image; here it is a dir of its own, to see that nothing is written there.
    home = tempDir('image-home');
    chmodSync(home, 0o555);
    // A temp dir anyone may write, as /tmp: a write there would succeed, and show.
    tmp = tempDir('image-tmp');
    chmodSync(tmp, 0o1777);
    dirs.push(install, home, tmp);
    watched = () =>
      new Map([
        ['install tree', snapshot(install)],
        ['node_modules', snapshot(realpathSync(join(ROOT, 'node_modules')))],
        ['HOME', snapshot(home)],
        ['TMPDIR', snapshot(tmp)],
      ]);
  });
  after(() => {
    for (const d of dirs) {
      setWritable(d, true);
      rmSync(d, { recursive: true, force: true });
    }
  });

  /** A data dir the image's user owns (an emptyDir, fsGroup'd to it, in Kubernetes). */
  function dataDir(name: string): string {
    const d = tempDir(name);
    if (asRoot) chownSync(d, imageUid, imageGid);
    dirs.push(d);
    dataDirs.push(d);
    return d;
  }

  /** Runs `exercise` against a sidecar started with `args`, and checks nothing outside `data` changed. */
  async function runAndCheck(args: string[], data: string, exercise: (r: Run) => Promise<void>, env: Record<string, string> = {}) {
    const port = Number(args[args.indexOf('--dapr-http-port') + 1]);
    const before_ = watched();
    const run = await start(install, args, { ...Object.fromEntries(imageEnv), MORTAR_DATA_DIR: data, HOME: home, TMPDIR: tmp, ...env }, port);
    try {
      await exercise(run);
    } finally {
      const code = await run.stop();
      assert.equal(code, 0, `a graceful stop on SIGTERM:\n${run.logs.slice(-5).join('\n')}`);
    }
    assert.ok(
      run.logs.some((l) => /\bstopped\b/.test(l)),
      'mortar logged its stop',
    );
    const after_ = watched();
    for (const [what, snap] of before_) assert.deepEqual(changes(snap, after_.get(what)!), [], `${what} is unchanged`);
    if (asRoot) {
      assert.deepEqual(ownedBy(imageUid, ['/tmp', '/var/tmp', '/dev/shm'], dataDirs), [], `no file of uid ${imageUid} outside the data dirs`);
    }
    const written = readdirSync(data);
    assert.ok(written.length > 0, 'the data dir is where it wrote');
    if (asRoot) for (const n of written) assert.equal(lstatSync(join(data, n)).uid, imageUid, `${n} was written by the image's user`);
  }

  it("the image's default command with MORTAR_DATA_DIR: a first start, a save on the embedded SQLite store and a stop write only the data dir", async () => {
    const data = dataDir('image-data');
    const http = await freePort();
    const grpc = await freePort();
    // The default command serves on 0.0.0.0; here, the loopback (a later flag wins).
    const args = [...defaultCmd, '--dapr-listen-addresses', '127.0.0.1', '--dapr-http-port', String(http), '--dapr-grpc-port', String(grpc)];
    await runAndCheck(args, data, async (r) => {
      assert.equal((await fetch(`${r.url}/v1.0/healthz`)).status, 204);
      const save = await fetch(`${r.url}/v1.0/state/statestore`, { method: 'POST', body: JSON.stringify([{ key: 'k', value: { n: 1 } }]) });
      assert.equal(save.status, 204);
      assert.deepEqual(await (await fetch(`${r.url}/v1.0/state/statestore/k`)).json(), { n: 1 });
      assert.ok(
        r.logs.some((l) => {
          const n = /loaded (\d+) built-in components \((\d+) prebuilt\)/.exec(l);
          return n !== null && n[1] === n[2];
        }),
        'every built-in loaded prebuilt: nothing transpiled at first start',
      );
    });
    assert.ok(
      readdirSync(data).some((n) => n.endsWith('.sqlite')),
      `the embedded store is in the data dir: ${readdirSync(data).join(', ')}`,
    );
    assert.ok(existsSync(join(data, 'sidecar')), 'the sidecar id is kept in the data dir (no POD_NAME)');
  });

  it("deploy/shared's args and components (state.redis), its probes' paths, the gRPC API, plus a user .wasm transpiled into the cache: only the data dir is written", async () => {
    const m = readManifests().find((x) => x.file === 'deploy/shared/deployment.yaml')!;
    const pod = (m.object as { spec: { template: { spec: { containers: Container[] } } } }).spec.template.spec;
    const c = pod.containers.find((x) => x.name === 'mortar')!;
    const cm = readManifests().find((x) => x.file === 'deploy/shared/components.yaml')!.object as { data: Record<string, string> };
    // The ConfigMap as the kubelet mounts it, with the Redis of this machine for the cluster's.
    const res = tempDir('image-res');
    dirs.push(res);
    for (const [file, text] of Object.entries(cm.data)) writeFileSync(join(res, file), text.replaceAll('redis:6379', '127.0.0.1:6379'));
    // A user component: transpiled at run time, into <data-dir>/cache.
    copyFileSync(join(TEST_COMPONENTS, 'hostile.wasm'), join(res, 'hostile.wasm'));
    writeComponent(res, 'echo.yaml', 'echo', 'state.hostile');
    chmodSync(res, 0o755);
    const data = dataDir('image-shared-data');
    const http = await freePort();
    const grpc = await freePort();
    const map: Record<string, string> = { '0.0.0.0': '127.0.0.1', '/components': res, '/data': data };
    const args = c.args.map((a, i) => {
      const prev = c.args[i - 1];
      if (prev === '--dapr-http-port') return String(http);
      if (prev === '--dapr-grpc-port') return String(grpc);
      return map[a] ?? a;
    });
    assert.ok(args.includes(res) && args.includes(data), `the manifest's paths were mapped: ${args.join(' ')}`);
    const key = `image-test-${randomUUID()}`;
    await runAndCheck(
      args,
      data,
      async (r) => {
        assert.equal((await fetch(`${r.url}${c.startupProbe.httpGet.path}`)).status, 204, 'the startup probe succeeds');
        assert.equal((await fetch(`${r.url}${c.readinessProbe.httpGet.path}`)).status, 204, 'the readiness probe succeeds');
        const save = await fetch(`${r.url}/v1.0/state/statestore`, { method: 'POST', body: JSON.stringify([{ key, value: 'v' }]) });
        assert.equal(save.status, 204, await save.text());
        assert.equal(await (await fetch(`${r.url}/v1.0/state/statestore/${key}`)).json(), 'v');
        assert.equal((await fetch(`${r.url}/v1.0/state/statestore/${key}`, { method: 'DELETE' })).status, 204);
        assert.equal(await (await fetch(`${r.url}/v1.0/state/echo/hello`)).json(), 'hello', 'the user component serves');
        // The gRPC API (the Service's 50001) serves from the same tree: its health and a call through the codecs.
        const g = new RawGrpc(grpc);
        try {
          assert.equal(await g.health('dapr.proto.runtime.v1.Dapr'), 1, 'SERVING');
          assert.equal((await g.call<{ id: string }>('GetMetadata', {})).id, 'mortar-shared');
        } finally {
          g.close();
        }
      },
      { POD_NAME: 'mortar-shared-0', NAMESPACE: 'test' },
    );
    const cached = readdirSync(join(data, 'cache')).flatMap((v) => readdirSync(join(data, 'cache', v)));
    assert.equal(cached.length, 1, `the user component (only) was transpiled into the data dir's cache: ${cached.join(', ')}`);
  });
});

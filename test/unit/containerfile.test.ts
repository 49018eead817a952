/**
 * The container image recipe, checked where no container engine runs: what it copies exists (or is what the
 * build makes), what it runs is in package.json, its final stage is the package's `files` and nothing of the
 * build's, the build skips what only the tests use (the test workloads), the code it ships imports only
 * production dependencies (all the prune leaves), it runs as a numeric non-root user with its writes under the
 * data dir, and its entrypoint, ports and Node version are mortar's. test/e2e/container-image.test.ts runs the final stage's tree for real.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from '../../host/src/config.js';
import { execForm, instructions, parseContainerfile, parseCopy, parseEnv, type Stage } from '../helpers/containerfile.js';
import { ROOT } from '../helpers/sidecar.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  files: string[];
  scripts: Record<string, string>;
  bin: Record<string, string>;
  engines: { node: string };
};
const cf = parseContainerfile();
const build = cf.stages.find((s) => s.name === 'build');
const final = cf.stages.at(-1)!;
/** The lines of .dockerignore (docker and podman both read it), comments dropped. */
const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

function copies(stage: Stage) {
  return instructions(stage, 'COPY').map((i) => parseCopy(i.args));
}

/** The final stage's `USER`, as uid and gid numbers. */
function finalUser(): { uid: number; gid: number } {
  const users = instructions(final, 'USER');
  assert.equal(users.length, 1, 'the final stage sets USER once');
  const m = /^(\d+)(?::(\d+))?$/.exec(users[0]!.args);
  assert.ok(m, `USER ${users[0]!.args} is numeric (uid[:gid]), so Kubernetes' runAsNonRoot can check it`);
  return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
}

describe('Containerfile', () => {
  it('has a build stage and a final stage, both on one Node base image whose version satisfies package.json engines', () => {
    assert.ok(build, 'a stage named build');
    assert.equal(cf.stages.length, 2);
    assert.equal(build.from, final.from, 'the native modules built in the build stage run on the same base');
    const image = build.from.replace(/^\$\{(\w+)\}$/, (_, n: string) => cf.globalArgs.get(n) ?? '');
    const m = /node:(\d+)\.(\d+)\.(\d+)-/.exec(image);
    assert.ok(m, `the base image ${image} pins an exact Node version`);
    const [, min] = /^>=(\d+\.\d+\.\d+)$/.exec(pkg.engines.node) ?? [];
    assert.ok(min, `engines.node ${pkg.engines.node}`);
    const v = m.slice(1, 4).map(Number);
    const w = min.split('.').map(Number);
    const cmp = v[0]! - w[0]! || v[1]! - w[1]! || v[2]! - w[2]!;
    assert.ok(cmp >= 0, `Node ${v.join('.')} satisfies ${pkg.engines.node}`);
    assert.equal(v[0], Number(process.versions.node.split('.')[0]), 'the same Node major as the one the tests run on');
  });

  it('copies into the build stage only paths that exist in the repository and that .dockerignore keeps', () => {
    const sources = copies(build!).flatMap((c) => c.sources);
    assert.ok(sources.length > 0);
    for (const s of sources) {
      assert.ok(existsSync(join(ROOT, s)), `COPY ${s}: no such path in the repository`);
      assert.ok(!ignored.some((i) => s === i || s.startsWith(`${i}/`)), `COPY ${s}: .dockerignore excludes it`);
    }
    // What the build makes, and the dependencies, never come from the build context.
    for (const made of ['node_modules', 'dist', 'host/generated', 'components-wasm/generated']) {
      assert.ok(ignored.includes(made), `.dockerignore excludes ${made}`);
    }
  });

  it('gives the build everything `npm run build` compiles: each tsconfig include root with sources is copied', () => {
    const sources = new Set(copies(build!).flatMap((c) => c.sources));
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
    for (const pattern of tsconfig.include) {
      const top = pattern.split('/')[0]!;
      // A root with no TypeScript in it (bench/ holds only .mjs) gives tsc nothing to compile.
      if (pattern.endsWith('.ts') && hasTs(join(ROOT, top))) {
        assert.ok(sources.has(top), `tsconfig.json includes ${pattern}, but the build stage does not COPY ${top}`);
      }
    }
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'scripts', 'wit', 'components-wasm', 'bin']) {
      assert.ok(sources.has(needed), `the build stage copies ${needed}`);
    }
  });

  it('runs only npm commands whose scripts exist: npm ci (its prepare script builds) and a production prune', () => {
    const runs = instructions(build!, 'RUN').map((r) => r.args);
    const npm = runs.flatMap((r) => [...r.matchAll(/\bnpm\s+([a-z-]+)((?:\s+[^&|;]+)?)/g)].map((m) => ({ cmd: m[1]!, rest: m[2]!.trim() })));
    assert.deepEqual(
      npm.map((n) => n.cmd),
      ['ci', 'prune'],
    );
    // `npm ci` runs the package's prepare script, which must build (host, components, prebuilt transpiles).
    assert.equal(pkg.scripts.prepare, 'npm run build');
    assert.match(pkg.scripts.build!, /scripts\/build\.mjs/);
    assert.ok(existsSync(join(ROOT, 'scripts/build.mjs')));
    assert.match(npm[1]!.rest, /--omit=dev/, 'the prune drops the dev dependencies');
    for (const n of npm) {
      const run = /^run\s+(\S+)/.exec(n.rest);
      if (run) assert.ok(pkg.scripts[run[1]!], `npm run ${run[1]}: no such script`);
    }
    assert.equal(
      instructions(final, 'RUN').some((r) => /\bnpm\b/.test(r.args)),
      false,
      'the final stage installs nothing',
    );
  });

  it("skips the test workloads in the image's build only: the build stage sets MORTAR_SKIP_TEST_WORKLOADS=1 before npm ci, which scripts/build-workloads.mjs honours; nothing shipped needs them, and neither package.json, CI nor the final stage sets it", () => {
    const env = new Map(instructions(build!, 'ENV').flatMap((e) => [...parseEnv(e.args)]));
    assert.equal(env.get('MORTAR_SKIP_TEST_WORKLOADS'), '1');
    const envAt = build!.instructions.findIndex((i) => i.keyword === 'ENV' && parseEnv(i.args).has('MORTAR_SKIP_TEST_WORKLOADS'));
    const ciAt = build!.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    assert.ok(envAt >= 0 && envAt < ciAt, 'set before the npm ci whose prepare builds');
    // The build script with the build stage's environment: skips, and builds nothing (no npm ci, no componentize).
    const stamps = () =>
      existsSync(join(ROOT, 'dist/test-workloads'))
        ? readdirSync(join(ROOT, 'dist/test-workloads')).map((n) => `${n} ${statSync(join(ROOT, 'dist/test-workloads', n)).mtimeMs}`)
        : [];
    const before = stamps();
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/build-workloads.mjs')], {
      encoding: 'utf8',
      env: { ...process.env, ...Object.fromEntries(env) },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'test workloads: skipped (MORTAR_SKIP_TEST_WORKLOADS=1)\n');
    assert.deepEqual(stamps(), before);
    // npm run build calls it, so npm ci's prepare skips them too.
    assert.match(readFileSync(join(ROOT, 'scripts/build.mjs'), 'utf8'), /scripts\/build-workloads\.mjs/);
    const out = 'dist/test-workloads';
    assert.equal(
      pkg.files.some((f) => f === out || out.startsWith(`${f}/`) || f.startsWith(`${out}/`)),
      false,
      'the package (and so the image) ships no test workload',
    );
    // Developers and CI: `npm install`/`npm ci` still build them.
    for (const file of ['package.json', '.ci/run']) assert.doesNotMatch(readFileSync(join(ROOT, file), 'utf8'), /MORTAR_SKIP_TEST_WORKLOADS/, file);
    assert.equal(
      instructions(final, 'ENV').some((e) => parseEnv(e.args).has('MORTAR_SKIP_TEST_WORKLOADS')),
      false,
      'the final stage does not carry it',
    );
  });

  it("copies into the final stage exactly the package's files, package.json and node_modules, from the build stage", () => {
    const final_ = copies(final);
    for (const c of final_) assert.equal(c.from, 'build', `COPY ${c.sources.join(' ')} comes from the build stage`);
    const paths = final_.flatMap((c) => c.sources.map((s) => s.replace(/^\/src\//, '')));
    assert.deepEqual([...paths].sort(), [...pkg.files, 'package.json', 'node_modules'].sort());
    // Each lands at the same place under WORKDIR (the layout bin/mortar.js and dist/ expect).
    for (const c of final_) assert.equal(c.dest.replace(/^\.\//, ''), c.sources[0]!.replace(/^\/src\//, ''));
    // The build made what it copies: here, where the same build ran, each exists.
    for (const p of pkg.files) assert.ok(existsSync(join(ROOT, p)), `${p} (built by npm run build) exists`);
    assert.ok(existsSync(join(ROOT, 'dist/components/transpiled')), 'the built-ins ship pre-transpiled');
  });

  it('ships code that needs only production dependencies: every package the installed tree imports is in dependencies', () => {
    const deps = new Set(Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: object }).dependencies));
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => {
        const p = join(dir, n);
        return statSync(p).isDirectory() ? files(p) : n.endsWith('.js') ? [p] : [];
      });
    const imported = new Set<string>();
    for (const f of [...files(join(ROOT, 'dist/host')), ...files(join(ROOT, 'bin'))]) {
      for (const m of readFileSync(f, 'utf8').matchAll(/(?:\bfrom |\bimport\(|\brequire\(|\.resolve\()'([^'./][^']*)'/g)) {
        const spec = m[1]!;
        // node: built-ins, and WIT interface names the generated glue imports (mortar:host/log@0.1.0).
        if (spec.includes(':')) continue;
        imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
    assert.ok(imported.has('fastify') && imported.has('pg'), `found: ${[...imported].join(', ')}`);
    for (const name of imported) assert.ok(deps.has(name), `${name} is imported by the shipped code but is not a production dependency`);
  });

  it('runs as a numeric non-root user that owns only the data dir, which MORTAR_DATA_DIR and HOME name', () => {
    const { uid, gid } = finalUser();
    assert.ok(uid > 0 && gid > 0, `uid ${uid} and gid ${gid} are not root`);
    const user = instructions(final, 'USER')[0]!;
    const last = final.instructions.at(-1)!;
    assert.ok(
      final.instructions.indexOf(user) > Math.max(...instructions(final, 'RUN').map((r) => final.instructions.indexOf(r))),
      'USER comes after every RUN, so nothing of the image is written as that user',
    );
    assert.ok(final.instructions.indexOf(user) <= final.instructions.indexOf(last));
    const env = new Map(instructions(final, 'ENV').flatMap((e) => [...parseEnv(e.args)]));
    const dataDir = env.get('MORTAR_DATA_DIR');
    assert.equal(dataDir, '/data');
    assert.equal(env.get('HOME'), dataDir, 'HOME is the data dir too: nothing outside it is writable');
    const run = instructions(final, 'RUN')
      .map((r) => r.args)
      .join(' && ');
    assert.match(run, new RegExp(`chown ${uid}:${gid} ${dataDir}(\\s|$)`), 'the data dir belongs to the user');
    assert.doesNotMatch(run, /chown [^&]*\/opt\/mortar|chmod/, 'the install tree stays root-owned, read-only to the user');
  });

  it('has the entrypoint mortar (the package bin, linked on the PATH), the API ports and no HEALTHCHECK', () => {
    assert.deepEqual(execForm(instructions(final, 'ENTRYPOINT')[0]!.args), ['mortar']);
    assert.equal(pkg.bin.mortar, 'bin/mortar.js');
    const workdir = instructions(final, 'WORKDIR')[0]!.args;
    const run = instructions(final, 'RUN')
      .map((r) => r.args)
      .join(' ');
    assert.match(run, new RegExp(`ln -s ${workdir}/bin/mortar\\.js /usr/local/bin/mortar`));
    const cmd = execForm(instructions(final, 'CMD')[0]!.args);
    assert.equal(cmd[0], 'run');
    assert.equal(cmd[cmd.indexOf('--dapr-listen-addresses') + 1], '0.0.0.0', 'the default command serves beyond the loopback');
    const ports = instructions(final, 'EXPOSE').flatMap((e) => e.args.split(/\s+/).map(Number));
    assert.deepEqual(ports.sort(), [DEFAULTS.httpPort, DEFAULTS.grpcPort].sort());
    assert.equal(
      cf.stages.some((s) => instructions(s, 'HEALTHCHECK').length > 0),
      false,
      'Kubernetes probes the health routes; the image has no HEALTHCHECK',
    );
  });
});

/** Whether `dir` holds a .ts file, at any depth. */
function hasTs(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return readdirSync(dir).some((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? hasTs(p) : n.endsWith('.ts');
  });
}

/**
 * `mortar:host/directory`: a granted directory (`x-mortar-grant: directory`; a relative value is taken from
 * the sidecar's working directory) that a component reads and writes by relative path, and never leaves.
 *
 * Rules: a path is `/`-separated and relative to the root; an absolute path or a `..` segment is
 * `access-denied`, a NUL, an empty path, or a path longer than `CAPABILITY_LIMITS.directoryPath` (a segment
 * over 255 bytes, over 64 segments, over 4096 bytes) `invalid-path` (empty and `.` segments are skipped). A
 * symbolic link is followed only when it leads to an existing file or directory inside the root (its real
 * path, `realpath`); one that leads outside, or nowhere, is `access-denied` for read, write and delete, and
 * left out of `list`. `delete` removes the link itself, `write` writes its target, `list` does
 * not descend through links (so no cycle). `read` refuses a file over `CAPABILITY_LIMITS.fileReadBytes`
 * (`too-large`); `list` returns at most `max` entries and never more than `CAPABILITY_LIMITS.listEntries`, and
 * goes no deeper than a path may. A call still walking at its deadline (`ctx.deadline`) gives up: `unavailable`.
 *
 * Races: on Linux every step goes through a directory already opened and checked (`/proc/self/fd/<fd>/<name>`
 * names `name` inside that very directory, like `openat`), each opened with `O_NOFOLLOW`, and what was opened
 * is checked again by its real path, so a directory swapped for a link meanwhile is refused. A link's target is
 * never opened by its path: its real path, relative to the root's, is walked the same way, one directory at a
 * time. A file is opened for write without `O_TRUNC` (and without `O_CREAT` when it is a link's target, which
 * exists) and truncated only once it is checked, so a refused write has changed nothing. At most two
 * directories are open at once per call (`list` closes a directory while it walks below it, and comes back by
 * `..`, checking it is the same directory). Elsewhere than Linux the checks are by path, with a window between
 * check and use.
 */
import { constants, existsSync, promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { directoryOf } from './grants.js';
import { witError, type WitError } from './wit-error.js';
import { CAPABILITY_LIMITS, mib } from './limits.js';
import type { CallContext, CapabilityHandlers } from './capability.js';

/** An opened root: the granted directory's real path. */
export interface DirectoryRoot {
  readonly real: string;
}

/** Mirrors `mortar:host/directory.entry`. */
export interface DirectoryEntry {
  name: string;
  size: bigint;
  modifiedMs: bigint;
  isDirectory: boolean;
}

/** Linux: an opened directory's `/proc/self/fd/<fd>` names it, whatever happens to its path. */
const PROC_FD = process.platform === 'linux' && existsSync('/proc/self/fd');
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_DIRECTORY = constants.O_DIRECTORY ?? 0;

/** Whether real path `p` is `root` or inside it. */
function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** What a call refuses: the error, logged by the capability's `denied`. */
class Escape {
  constructor(
    readonly path: string,
    readonly why: string,
  ) {}
}

/** `p` as a message shows it: at most 64 characters of it. */
function shown(p: string): string {
  return p.length > 64 ? `${p.slice(0, 64)}...` : p;
}

/**
 * The segments of a relative path. Throws `invalid-path` (a NUL, nothing named, longer than
 * `CAPABILITY_LIMITS.directoryPath`), or an `Escape` for an absolute path or `..`.
 */
function segmentsOf(path: unknown, allowRoot: boolean): string[] {
  const p = String(path);
  const limit = CAPABILITY_LIMITS.directoryPath;
  if (p.includes('\0')) throw witError('invalid-path', `path '${shown(p).replace(/\0/g, '\\0')}' contains a NUL`);
  if (p.startsWith('/') || isAbsolute(p)) throw new Escape(p, 'an absolute path leads outside the granted directory');
  const segs = p.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.includes('..')) throw new Escape(p, "a '..' segment leads outside the granted directory");
  if (Buffer.byteLength(p) > limit.bytes) throw witError('invalid-path', `path '${shown(p)}' is over ${limit.bytes} bytes, the most a path may have`);
  if (segs.length > limit.segments) {
    throw witError('invalid-path', `path '${shown(p)}' has ${segs.length} segments, over the ${limit.segments} a path may have`);
  }
  const long = segs.find((s) => Buffer.byteLength(s) > limit.segmentBytes);
  if (long !== undefined) throw witError('invalid-path', `path '${shown(p)}': segment '${long.slice(0, 32)}...' is over ${limit.segmentBytes} bytes`);
  if (segs.length === 0 && !allowRoot) throw witError('invalid-path', `path '${p}' names no file`);
  return segs;
}

/** A directory inside the root, opened and checked; names inside it are reached through it. */
class Dir {
  private constructor(
    readonly fh: FileHandle,
    readonly real: string,
    /** Which directory it is (`dev:ino`), whatever its path. */
    readonly id: string,
  ) {}

  /** Opens directory `path` (no link followed at its last step) and checks that it is inside `root`. */
  static async open(root: DirectoryRoot, path: string, rel: string): Promise<Dir> {
    const fh = await fs.open(path, constants.O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    try {
      const real = await realOf(fh, path);
      if (!inside(root.real, real)) throw new Escape(rel, 'it leads outside the granted directory');
      const st = await fh.stat();
      if (!st.isDirectory()) throw witError('other', `'${rel}' is not a directory`);
      return new Dir(fh, real, `${st.dev}:${st.ino}`);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** A path naming `name` in this very directory. */
  at(name: string): string {
    return PROC_FD ? `/proc/self/fd/${this.fh.fd}/${name}` : join(this.real, name);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** The real path of what `fh` has open (Linux: as the kernel sees it now), else of `path`. */
async function realOf(fh: FileHandle, path: string): Promise<string> {
  return PROC_FD ? fs.readlink(`/proc/self/fd/${fh.fd}`) : fs.realpath(path);
}

/** Opens file `path` with `flags` (and `O_NOFOLLOW`) and checks that what it opened is inside `root`. */
async function openFile(root: DirectoryRoot, path: string, flags: number, rel: string): Promise<FileHandle> {
  const fh = await fs.open(path, flags | O_NOFOLLOW, 0o644);
  try {
    if (!inside(root.real, await realOf(fh, path))) throw new Escape(rel, 'it leads outside the granted directory');
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** `lstat`, or `undefined` when nothing is there. */
async function lstatOrNone(path: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(path);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The real path of link `path` when it leads to something existing inside the root; throws an `Escape` otherwise. */
async function linkTarget(root: DirectoryRoot, path: string, rel: string): Promise<string> {
  let real: string;
  try {
    real = await fs.realpath(path);
  } catch {
    throw new Escape(rel, 'it is a symbolic link that leads nowhere');
  }
  if (!inside(root.real, real)) throw new Escape(rel, 'it is a symbolic link that leads outside the granted directory');
  return real;
}

/** Throws `unavailable` once the call's `deadline` (`performance.now()`) has passed. */
function inTime(deadline: number, rel: string): void {
  if (performance.now() >= deadline) throw witError('unavailable', `'${shown(rel)}': the call's deadline passed before the host was done`);
}

/**
 * Directory `segs` (no link among them), opened by walking from the root one directory at a time, each
 * opened through the one before without following a link. The caller closes it.
 */
async function dirAt(root: DirectoryRoot, segs: readonly string[], rel: string, deadline: number): Promise<Dir> {
  let dir = await Dir.open(root, root.real, rel);
  try {
    for (const seg of segs) {
      inTime(deadline, rel);
      const next = await Dir.open(root, dir.at(seg), rel);
      await dir.close();
      dir = next;
    }
  } catch (err) {
    await dir.close();
    throw err;
  }
  return dir;
}

/** The segments of real path `real` (inside the root) below the root's. */
function below(root: DirectoryRoot, real: string): string[] {
  return relative(root.real, real)
    .split(sep)
    .filter((s) => s !== '');
}

/** A place in the root: a directory opened and checked (the caller closes it) and a name in it. */
interface Place {
  readonly dir: Dir;
  readonly name: string;
}

/**
 * Where real path `real` (a link's target, inside the root) is, reached from the root without following any
 * link: its directory, walked to by its path relative to the root's (`dirAt`), and its name there (`.`: the
 * root itself). Never opened by `real` itself, whose directories may have been swapped for links since.
 */
async function placeOf(root: DirectoryRoot, real: string, rel: string, deadline: number): Promise<Place> {
  const segs = below(root, real);
  if (segs.length === 0) return { dir: await dirAt(root, [], rel, deadline), name: '.' };
  return { dir: await dirAt(root, segs.slice(0, -1), rel, deadline), name: segs[segs.length - 1]! };
}

/** Runs `fn` on the path of what link `path` leads to (inside the root, existing), reached by `placeOf`. */
async function atTarget<T>(root: DirectoryRoot, path: string, rel: string, deadline: number, fn: (target: string) => Promise<T>): Promise<T> {
  const { dir, name } = await placeOf(root, await linkTarget(root, path, rel), rel, deadline);
  try {
    return await fn(dir.at(name));
  } finally {
    await dir.close();
  }
}

/**
 * The directory holding the last segment, opened and checked, walking from the root; `create`: missing
 * directories are made. Returns that directory (the caller closes it) and the last segment.
 */
async function parentOf(root: DirectoryRoot, segs: string[], create: boolean, deadline: number): Promise<Place> {
  let dir = await Dir.open(root, root.real, '');
  try {
    for (let i = 0; i < segs.length - 1; i++) {
      const rel = segs.slice(0, i + 1).join('/');
      inTime(deadline, rel);
      const path = dir.at(segs[i]!);
      let st = await lstatOrNone(path);
      if (!st) {
        if (!create) throw witError('not-found', `'${rel}' does not exist`);
        await fs.mkdir(path).catch((err: { code?: string }) => {
          if (err.code !== 'EEXIST') throw err;
        });
        st = await fs.lstat(path);
      }
      const next = st.isSymbolicLink() ? await atTarget(root, path, rel, deadline, (target) => Dir.open(root, target, rel)) : await Dir.open(root, path, rel);
      await dir.close();
      dir = next;
    }
  } catch (err) {
    await dir.close();
    throw err;
  }
  return { dir, name: segs[segs.length - 1]! };
}

/** A file system error as the WIT error of a call on `rel`. */
function fsError(err: unknown, rel: string): WitError | Escape {
  if (err instanceof Escape || (err && typeof err === 'object' && 'tag' in err)) return err as WitError | Escape;
  const code = (err as { code?: string })?.code ?? '';
  switch (code) {
    case 'ENOENT':
      return witError('not-found', `'${rel}' does not exist`);
    case 'ENAMETOOLONG':
      return witError('invalid-path', `path '${rel}' is too long`);
    // O_NOFOLLOW met a link: one appeared since the path was checked.
    case 'ELOOP':
      return new Escape(rel, 'a symbolic link appeared on the way');
    case 'EISDIR':
      return witError('other', `'${rel}' is a directory`);
    case 'ENOTDIR':
      return witError('other', `'${rel}' (or a directory on its way) is not a directory`);
    default:
      return witError('other', `'${rel}': ${code || (err instanceof Error ? err.message : String(err))}`);
  }
}

async function readFile(root: DirectoryRoot, segs: string[], rel: string, deadline: number): Promise<Uint8Array> {
  const { dir, name } = await parentOf(root, segs, false, deadline);
  try {
    const path = dir.at(name);
    const st = await fs.lstat(path);
    const open = (target: string) => openFile(root, target, constants.O_RDONLY, rel);
    const fh = st.isSymbolicLink() ? await atTarget(root, path, rel, deadline, open) : await open(path);
    try {
      const size = (await fh.stat()).size;
      const limit = CAPABILITY_LIMITS.fileReadBytes;
      const over = () => witError('too-large', `'${rel}' is over the ${mib(limit)} the host reads at once`);
      if (size > limit) throw over();
      // Read to the end whatever the size said (the file may be growing), never past the limit: one byte
      // more than the size, to see growth.
      let buf = Buffer.allocUnsafe(size + 1);
      let got = 0;
      for (;;) {
        if (got === buf.length) {
          if (buf.length > limit) throw over();
          const grown = Buffer.allocUnsafe(Math.min(buf.length * 2, limit + 1));
          buf.copy(grown, 0, 0, got);
          buf = grown;
        }
        const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      // A copy of exactly the file's size crosses to the sandbox, not the (possibly pooled) buffer.
      return new Uint8Array(buf.subarray(0, got));
    } finally {
      await fh.close();
    }
  } finally {
    await dir.close();
  }
}

async function writeFile(root: DirectoryRoot, segs: string[], rel: string, data: Uint8Array, deadline: number): Promise<void> {
  const { dir, name } = await parentOf(root, segs, true, deadline);
  try {
    const path = dir.at(name);
    const st = await lstatOrNone(path);
    // No O_TRUNC: the file is emptied only once `openFile` has checked it. A link's target exists: no O_CREAT.
    const fh = st?.isSymbolicLink()
      ? await atTarget(root, path, rel, deadline, (target) => openFile(root, target, constants.O_WRONLY, rel))
      : await openFile(root, path, constants.O_WRONLY | constants.O_CREAT, rel);
    try {
      await fh.truncate(0);
      await fh.writeFile(data);
    } finally {
      await fh.close();
    }
  } finally {
    await dir.close();
  }
}

async function deleteFile(root: DirectoryRoot, segs: string[], rel: string, deadline: number): Promise<void> {
  const { dir, name } = await parentOf(root, segs, false, deadline);
  try {
    const path = dir.at(name);
    const st = await fs.lstat(path);
    if (st.isSymbolicLink()) await linkTarget(root, path, rel);
    else if (st.isDirectory()) throw witError('other', `'${rel}' is a directory`);
    await fs.unlink(path);
  } finally {
    await dir.close();
  }
}

async function listFiles(root: DirectoryRoot, segs: string[], rel: string, max: number, deadline: number): Promise<DirectoryEntry[]> {
  const want = Math.min(max, CAPABILITY_LIMITS.listEntries);
  const out: DirectoryEntry[] = [];
  if (want <= 0) return out;
  let start: Dir;
  if (segs.length === 0) start = await Dir.open(root, root.real, '');
  else {
    const { dir, name } = await parentOf(root, segs, false, deadline);
    try {
      const path = dir.at(name);
      const st = await fs.lstat(path);
      const open = (target: string) => Dir.open(root, target, rel);
      start = st.isSymbolicLink() ? await atTarget(root, path, rel, deadline, open) : await open(path);
    } finally {
      await dir.close();
    }
  }
  await (await walk(root, start, segs.length, segs.length === 0 ? '' : `${segs.join('/')}/`, { want, out, deadline }))?.close();
  return out;
}

/** What one `list` gathers: at most `want` entries into `out`, by `deadline`. */
interface Listing {
  readonly want: number;
  readonly out: DirectoryEntry[];
  readonly deadline: number;
}

/** What a link in a listed directory leads to (inside the root, existing, no link itself), else `undefined`. */
async function linked(root: DirectoryRoot, path: string, rel: string, deadline: number): Promise<Stats | undefined> {
  try {
    const st = await atTarget(root, path, rel, deadline, (target) => fs.lstat(target));
    return st.isSymbolicLink() ? undefined : st;
  } catch (err) {
    if ((err as WitError).tag === 'unavailable') throw err;
    return undefined;
  }
}

/**
 * Directory `was` again, once a walk below it is done, from `from` (a directory just below it; closed here):
 * its `..`, else by its real path from the root; `undefined` when neither is `was` any more (moved meanwhile).
 */
async function back(root: DirectoryRoot, from: Dir, was: Pick<Dir, 'real' | 'id'>, rel: string, deadline: number): Promise<Dir | undefined> {
  const up = await Dir.open(root, from.at('..'), rel)
    .catch(() => undefined)
    .finally(() => from.close());
  if (up?.id === was.id) return up;
  await up?.close();
  inTime(deadline, rel);
  const again = await dirAt(root, below(root, was.real), rel, deadline).catch((err: WitError) => {
    if (err.tag === 'unavailable') throw err;
    return undefined;
  });
  if (again?.id === was.id) return again;
  await again?.close();
  return undefined;
}

/**
 * Appends the entries of `dir` and of its subdirectories, depth first, by name; `depth`: the segments of
 * `prefix`. One directory is open at a time (two while stepping): `dir` is closed while its subdirectories
 * are walked, and opened again from the last of them (`back`). Returns `dir` open (the caller closes it), or
 * `undefined` when it could not be reached again (the rest of it is left out).
 */
async function walk(root: DirectoryRoot, dir: Dir, depth: number, prefix: string, l: Listing): Promise<Dir | undefined> {
  const found: Array<{ name: string; st: Stats; descend: boolean }> = [];
  try {
    const names = (await fs.readdir(PROC_FD ? `/proc/self/fd/${dir.fh.fd}` : dir.real)).sort();
    for (const name of names) {
      // This directory cannot add more than `want` entries: no more are looked at.
      if (l.out.length + found.length >= l.want) break;
      inTime(l.deadline, prefix + name);
      const path = dir.at(name);
      const st = await lstatOrNone(path);
      if (!st) continue; // deleted meanwhile
      if (st.isSymbolicLink()) {
        // Listed only when it leads inside the root, as what it leads to; never descended into.
        const target = await linked(root, path, prefix + name, l.deadline);
        if (target) found.push({ name, st: target, descend: false });
        continue;
      }
      found.push({ name, st, descend: st.isDirectory() && depth + 2 <= CAPABILITY_LIMITS.directoryPath.segments });
    }
  } catch (err) {
    await dir.close();
    throw err;
  }
  let here: Dir | undefined = dir;
  try {
    for (const f of found) {
      if (l.out.length >= l.want) break;
      const rel = prefix + f.name;
      l.out.push(entry(rel, f.st));
      if (!f.descend) continue;
      inTime(l.deadline, rel);
      const at: Dir = here;
      // Gone, or swapped for a link, meanwhile: not descended into.
      const sub = await Dir.open(root, at.at(f.name), rel).catch(() => undefined);
      if (!sub) continue;
      here = undefined;
      await at.close();
      const last = await walk(root, sub, depth + 1, `${rel}/`, l);
      here = last && (await back(root, last, at, prefix || '.', l.deadline));
      if (!here) return undefined;
    }
    const done = here;
    here = undefined;
    return done;
  } catch (err) {
    await here?.close();
    throw err;
  }
}

function entry(name: string, st: Stats): DirectoryEntry {
  return { name, size: BigInt(st.isDirectory() ? 0 : st.size), modifiedMs: BigInt(Math.floor(st.mtimeMs)), isDirectory: st.isDirectory() };
}

/** Runs one call on `rel`: file system errors become WIT errors, escapes are logged and refused. */
async function guarded<T>(
  ctx: CallContext,
  root: DirectoryRoot,
  path: unknown,
  allowRoot: boolean,
  fn: (segs: string[], rel: string) => Promise<T>,
): Promise<T> {
  const rel = String(path);
  try {
    return await fn(segmentsOf(path, allowRoot), rel);
  } catch (err) {
    const e = fsError(err, rel);
    if (e instanceof Escape) throw ctx.denied('directory', `${root.real} path '${e.path}'`, e.why);
    throw e;
  }
}

/** `mortar:host/directory` on the host: a granted root and the files under it. */
export const directoryCapability: CapabilityHandlers<'directory'> = {
  functions: {},
  resources: {
    root: {
      statics: {
        open: {
          grant: (args) => [{ kind: 'directory', value: String(args[0]) }],
          async run(_ctx, args): Promise<DirectoryRoot> {
            const granted = directoryOf(String(args[0]))!;
            try {
              await fs.mkdir(granted, { recursive: true });
              return { real: await fs.realpath(granted) };
            } catch (err) {
              throw witError('other', `directory ${granted}: ${(err as { code?: string }).code ?? String(err)}`);
            }
          },
        },
      },
      methods: {
        read: (r: DirectoryRoot, a, ctx) => guarded(ctx, r, a[0], false, (segs, rel) => readFile(r, segs, rel, ctx.deadline)),
        write: (r: DirectoryRoot, a, ctx) => guarded(ctx, r, a[0], false, (segs, rel) => writeFile(r, segs, rel, a[1] as Uint8Array, ctx.deadline)),
        delete: (r: DirectoryRoot, a, ctx) => guarded(ctx, r, a[0], false, (segs, rel) => deleteFile(r, segs, rel, ctx.deadline)),
        list: (r: DirectoryRoot, a, ctx) => guarded(ctx, r, a[0], true, (segs, rel) => listFiles(r, segs, rel, Number(a[1]), ctx.deadline)),
      },
      close: () => undefined,
    },
  },
};

/**
 * `mortar:host/directory`: a granted directory (`x-mortar-grant: directory`; a relative value is taken from
 * the sidecar's working directory) that a component reads and writes by relative path, and never leaves.
 *
 * Rules: a path is `/`-separated and relative to the root; an absolute path or a `..` segment is
 * `access-denied`, a NUL, an empty path or a segment over 255 bytes `invalid-path` (empty and `.` segments
 * are skipped). A symbolic link is followed only when it leads to an existing file or directory inside the
 * root (its real path, `realpath`); one that leads outside, or nowhere, is `access-denied` for read, write
 * and delete, and left out of `list`. `delete` removes the link itself, `write` writes its target, `list` does
 * not descend through links (so no cycle). `read` refuses a file over `CAPABILITY_LIMITS.fileReadBytes`
 * (`too-large`); `list` returns at most `max` entries and never more than `CAPABILITY_LIMITS.listEntries`.
 *
 * Races: on Linux every step goes through a directory already opened and checked (`/proc/self/fd/<fd>/<name>`
 * names `name` inside that very directory, like `openat`), files are opened with `O_NOFOLLOW`, and what was
 * opened is checked again by its real path, so a directory swapped for a link meanwhile is refused. Elsewhere
 * the checks are by path, with a window between check and use.
 */
import { constants, existsSync, promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';
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
const MAX_SEGMENT_BYTES = 255;

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

/** The segments of a relative path. Throws `invalid-path`, or an `Escape` for an absolute path or `..`. */
function segmentsOf(path: unknown, allowRoot: boolean): string[] {
  const p = String(path);
  if (p.includes('\0')) throw witError('invalid-path', `path '${p.replace(/\0/g, '\\0')}' contains a NUL`);
  if (p.startsWith('/') || isAbsolute(p)) throw new Escape(p, 'an absolute path leads outside the granted directory');
  const segs = p.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.includes('..')) throw new Escape(p, "a '..' segment leads outside the granted directory");
  const long = segs.find((s) => Buffer.byteLength(s) > MAX_SEGMENT_BYTES);
  if (long !== undefined) throw witError('invalid-path', `path '${p}': segment '${long.slice(0, 32)}...' is over ${MAX_SEGMENT_BYTES} bytes`);
  if (segs.length === 0 && !allowRoot) throw witError('invalid-path', `path '${p}' names no file`);
  return segs;
}

/** A directory inside the root, opened and checked; names inside it are reached through it. */
class Dir {
  private constructor(
    readonly fh: FileHandle,
    readonly real: string,
  ) {}

  /** Opens directory `path` (no link followed at its last step) and checks that it is inside `root`. */
  static async open(root: DirectoryRoot, path: string, rel: string): Promise<Dir> {
    const fh = await fs.open(path, constants.O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    try {
      const real = await realOf(fh, path);
      if (!inside(root.real, real)) throw new Escape(rel, 'it leads outside the granted directory');
      if (!(await fh.stat()).isDirectory()) throw witError('other', `'${rel}' is not a directory`);
      return new Dir(fh, real);
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

/**
 * The directory holding the last segment, opened and checked, walking from the root; `create`: missing
 * directories are made. Returns that directory (the caller closes it) and the last segment.
 */
async function parentOf(root: DirectoryRoot, segs: string[], create: boolean): Promise<{ dir: Dir; name: string }> {
  let dir = await Dir.open(root, root.real, '');
  try {
    for (let i = 0; i < segs.length - 1; i++) {
      const rel = segs.slice(0, i + 1).join('/');
      const path = dir.at(segs[i]!);
      let st = await lstatOrNone(path);
      if (!st) {
        if (!create) throw witError('not-found', `'${rel}' does not exist`);
        await fs.mkdir(path).catch((err: { code?: string }) => {
          if (err.code !== 'EEXIST') throw err;
        });
        st = await fs.lstat(path);
      }
      const next = st.isSymbolicLink() ? await Dir.open(root, await linkTarget(root, path, rel), rel) : await Dir.open(root, path, rel);
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

async function readFile(root: DirectoryRoot, segs: string[], rel: string): Promise<Uint8Array> {
  const { dir, name } = await parentOf(root, segs, false);
  try {
    const path = dir.at(name);
    const st = await fs.lstat(path);
    const fh = await openFile(root, st.isSymbolicLink() ? await linkTarget(root, path, rel) : path, constants.O_RDONLY, rel);
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

async function writeFile(root: DirectoryRoot, segs: string[], rel: string, data: Uint8Array): Promise<void> {
  const { dir, name } = await parentOf(root, segs, true);
  try {
    const path = dir.at(name);
    const st = await lstatOrNone(path);
    const target = st?.isSymbolicLink() ? await linkTarget(root, path, rel) : path;
    const fh = await openFile(root, target, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, rel);
    try {
      await fh.writeFile(data);
    } finally {
      await fh.close();
    }
  } finally {
    await dir.close();
  }
}

async function deleteFile(root: DirectoryRoot, segs: string[], rel: string): Promise<void> {
  const { dir, name } = await parentOf(root, segs, false);
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

async function listFiles(root: DirectoryRoot, segs: string[], rel: string, max: number): Promise<DirectoryEntry[]> {
  const want = Math.min(max, CAPABILITY_LIMITS.listEntries);
  const out: DirectoryEntry[] = [];
  if (want <= 0) return out;
  let start: Dir;
  if (segs.length === 0) start = await Dir.open(root, root.real, '');
  else {
    const { dir, name } = await parentOf(root, segs, false);
    try {
      const path = dir.at(name);
      const st = await fs.lstat(path);
      start = await Dir.open(root, st.isSymbolicLink() ? await linkTarget(root, path, rel) : path, rel);
    } finally {
      await dir.close();
    }
  }
  const prefix = segs.length === 0 ? '' : `${segs.join('/')}/`;
  await walk(root, start, prefix, want, out);
  return out;
}

/** Appends the entries of `dir` (closed when done) and of its subdirectories, depth first, by name. */
async function walk(root: DirectoryRoot, dir: Dir, prefix: string, want: number, out: DirectoryEntry[]): Promise<void> {
  try {
    const names = (await fs.readdir(PROC_FD ? `/proc/self/fd/${dir.fh.fd}` : dir.real)).sort();
    for (const name of names) {
      if (out.length >= want) return;
      const path = dir.at(name);
      const st = await lstatOrNone(path);
      if (!st) continue; // deleted meanwhile
      if (st.isSymbolicLink()) {
        // Listed only when it leads inside the root, as what it leads to; never descended into.
        const real = await linkTarget(root, path, prefix + name).catch(() => undefined);
        const target = real === undefined ? undefined : await fs.stat(real).catch(() => undefined);
        if (target) out.push(entry(prefix + name, target));
        continue;
      }
      out.push(entry(prefix + name, st));
      if (st.isDirectory()) {
        const sub = await Dir.open(root, path, prefix + name).catch(() => undefined);
        if (sub) await walk(root, sub, `${prefix}${name}/`, want, out);
      }
    }
  } finally {
    await dir.close();
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
        read: (r: DirectoryRoot, a, ctx) => guarded(ctx, r, a[0], false, (segs, rel) => readFile(r, segs, rel)),
        write: (r: DirectoryRoot, a, ctx) => guarded(ctx, r, a[0], false, (segs, rel) => writeFile(r, segs, rel, a[1] as Uint8Array)),
        delete: (r: DirectoryRoot, a, ctx) => guarded(ctx, r, a[0], false, (segs, rel) => deleteFile(r, segs, rel)),
        list: (r: DirectoryRoot, a, ctx) => guarded(ctx, r, a[0], true, (segs, rel) => listFiles(r, segs, rel, Number(a[1]))),
      },
      close: () => undefined,
    },
  },
};

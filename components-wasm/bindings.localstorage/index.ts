// world: output-binding-component
/**
 * bindings.localstorage: files under a directory, as Dapr's `bindings.localstorage` (components-contrib
 * `bindings/localstorage/localstorage.go`), through `mortar:host/directory`. Metadata `rootPath` is the
 * granted directory (created at init); `/proc`, `/sys`, `/boot` and `/var/run/secrets` are refused as Dapr
 * refuses them.
 *
 * The request metadata `fileName` names a file relative to `rootPath`, and no name reaches outside it: as
 * Dapr's `securejoin`, `..` segments stop at the root and an absolute name is taken as relative to it
 * (`../x` and `/x` are both `<rootPath>/x`); a symbolic link inside the root that leads out is refused by
 * the host (Dapr would re-root it; mortar does not follow it).
 * * `create`: writes the data (a JSON string's quotes removed, then base64-decoded when it is valid
 *   base64, exactly as Dapr does) to `fileName`, or to a new UUID when none is given, creating parent
 *   directories; the data of the response is `{"fileName":"<name relative to rootPath>"}`.
 * * `get`: the file's bytes; a missing file is `not-found` (Dapr: `file not found`).
 * * `list`: the files under `fileName` (or the root), recursively, as a JSON array of paths that start
 *   with `rootPath` (Dapr's absolute paths), in `filepath.Walk` order; `null` when there are none.
 * * `delete`: removes the file; a missing file is `not-found`.
 */
import type * as O from 'mortar:component/output-binding@0.1.0';
import { Root } from 'mortar:host/directory@0.1.0';
import { schema, toMap, type Pairs } from '../lib/guest.js';
import { base64StdDecode, bindingError, bindingFromHost, goUnquote, response, unsupported, uuid4, type BindingError } from '../lib/binding.js';

const OPERATIONS = ['create', 'get', 'list', 'delete'];
const DISALLOWED = ['/proc', '/sys', '/boot', '/var/run/secrets'];
const MAX_LIST = 100_000;

let rootPath = '';
let root: Root | undefined;

/** `filepath.Clean` for `/`-separated paths. */
function clean(p: string): string {
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!abs) out.push('..');
      continue;
    }
    out.push(seg);
  }
  const s = (abs ? '/' : '') + out.join('/');
  return s === '' ? '.' : s;
}

/** The name inside the root that `fileName` means, as securejoin resolves it lexically (`''`: the root itself). */
function inside(fileName: string): string {
  const out: string[] = [];
  for (const seg of fileName.replace(/\\/g, '/').split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      out.pop();
      continue;
    }
    out.push(seg);
  }
  return out.join('/');
}

function dir(): Root {
  if (!root) {
    try {
      root = Root.open(rootPath);
    } catch (err) {
      throw bindingFromHost(err, `rootPath ${rootPath}`);
    }
  }
  return root;
}

/** A host error about `name`: leaving the root is refused, naming `fileName`. */
function pathError(err: unknown, what: string, name: string): BindingError {
  const e = bindingFromHost(err);
  if ((err as { payload?: { tag?: string } })?.payload?.tag === 'access-denied' || /access denied/.test(e.val)) {
    return bindingError('invalid-argument', `fileName: '${name}' leads outside rootPath: ${e.val}`);
  }
  return bindingError(e.tag, `${what} ${name}: ${e.val}`);
}

/** Walk order: path segments compared one by one (a directory's files before the names that sort after it). */
function walkOrder(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return x.length - y.length;
}

export const lifecycle = {
  describe() {
    return {
      // Dapr registers it as `localstorage` (dapr/dapr cmd/daprd/components/binding_localstorage.go).
      types: ['bindings.localstorage'],
      version: '1.0.0',
      features: [],
      metadataSchema: schema(
        {
          rootPath: { type: 'string', minLength: 1, 'x-mortar-grant': 'directory', description: 'The root directory path', 'x-example': '/tmp/dapr' },
        },
        ['rootPath'],
      ),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    const m = toMap(metadata);
    if (!m.rootPath) throw { tag: 'invalid-metadata', val: 'rootPath: property rootPath must not be empty' };
    rootPath = clean(m.rootPath);
    for (const p of DISALLOWED) {
      if (rootPath === p || rootPath.startsWith(`${p}/`)) throw { tag: 'invalid-metadata', val: 'rootPath: property rootPath points to a disallowed location' };
    }
    try {
      dir();
    } catch (err) {
      const e = err as BindingError;
      throw {
        tag: e.tag === 'unavailable' ? 'unavailable' : 'other',
        val: `rootPath: unable to create directory specified by 'rootPath' ${rootPath}: ${e.val}`,
      };
    }
  },
  ping() {
    try {
      dir().list('', 1);
    } catch (err) {
      throw bindingFromHost(err).val;
    }
  },
};

export const outputBinding = {
  operations: (): string[] => OPERATIONS,

  invoke(r: O.InvokeRequest): O.InvokeResponse | undefined {
    if (!OPERATIONS.includes(r.operation)) unsupported(r, OPERATIONS);
    let fileName = toMap(r.metadata).fileName ?? '';
    if (fileName === '' && r.operation === 'create') fileName = uuid4();
    const name = inside(fileName);
    if (r.operation === 'list') {
      let entries;
      try {
        entries = dir().list(name, MAX_LIST);
      } catch (err) {
        throw pathError(err, 'error listing files in', fileName || '.');
      }
      const base = rootPath === '/' ? '' : rootPath;
      const files = entries
        .filter((e) => !e.isDirectory)
        .map((e) => `${base}/${e.name}`)
        .sort(walkOrder);
      return response(files.length === 0 ? 'null' : JSON.stringify(files));
    }
    if (name === '') throw bindingError('invalid-argument', `fileName: '${fileName}' names rootPath itself, not a file`);
    switch (r.operation) {
      case 'create': {
        let data = goUnquote(r.data) ?? r.data;
        data = base64StdDecode(data) ?? data;
        try {
          dir().write(name, data);
        } catch (err) {
          throw pathError(err, 'error creating file', fileName);
        }
        return response(JSON.stringify({ fileName: name }));
      }
      case 'get':
        try {
          return response(dir().read(name));
        } catch (err) {
          const e = pathError(err, 'error opening path', fileName);
          throw e.tag === 'not-found' ? bindingError('not-found', `file not found: ${fileName}`) : e;
        }
      default: // delete
        try {
          dir().delete(name);
        } catch (err) {
          throw pathError(err, 'error deleting file', fileName);
        }
        return undefined;
    }
  },
};

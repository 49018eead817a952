import { MortarError } from '../../errors.js';

/**
 * Dapr's state key scheme (`pkg/components/state/state_config.go`): the stored key is `<prefix>||<key>`
 * where the prefix comes from the component's `keyPrefix` metadata: `appid` (default), `name` (store name),
 * `namespace` (`<ns>.<appId>`), `none` (no prefix), or any other literal.
 */
export function keyPrefix(scheme: string | undefined, appId: string, storeName: string, namespace = process.env.NAMESPACE ?? ''): string {
  switch ((scheme ?? 'appid').toLowerCase()) {
    case 'appid':
      return appId;
    case 'name':
      return storeName;
    case 'namespace':
      return namespace ? `${namespace}.${appId}` : appId;
    case 'none':
      return '';
    default:
      return scheme!;
  }
}

/**
 * The longest key a client may use, in bytes of UTF-8 (4096 ASCII characters), on every state route.
 *
 * One rule for save, bulk get, transaction, get and delete, so a key that can be saved can be read and deleted:
 * percent-encoded, the longest key is at most {@link MAX_KEY_URL_CHARS} characters in a URL, which the HTTP
 * server accepts as one path segment.
 */
export const MAX_KEY_BYTES = 4096;

/** The longest path segment the HTTP API routes: the longest key with every byte percent-encoded (`%XX`). */
export const MAX_KEY_URL_CHARS = MAX_KEY_BYTES * 3;

/**
 * Validates a client key and returns the stored key, for every route. Throws ERR_STATE_ILLEGAL_KEY for keys
 * with `||` (Dapr's rule), and 400 ERR_MALFORMED_REQUEST for a key over {@link MAX_KEY_BYTES} or with a NUL
 * character (which no SQL text column can hold), before any component sees the key.
 */
export function storedKey(prefix: string, key: string, storeName: string): string {
  // Up to MAX_KEY_BYTES / 3 UTF-16 units can never exceed the limit: skip the byte count for ordinary keys.
  if (key.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw badKey(key, storeName, `key is ${Buffer.byteLength(key, 'utf8')} bytes long; a key is at most ${MAX_KEY_BYTES} bytes (UTF-8)`);
  }
  if (key.includes('\u0000')) throw badKey(key, storeName, `key '${key.replace(/\u0000/g, '\\0')}' contains a NUL character`);
  if (key.includes('||')) {
    throw new MortarError('ERR_STATE_ILLEGAL_KEY', [key])
      .with({ '@type': 'type.googleapis.com/google.rpc.ResourceInfo', resource_type: 'state', resource_name: storeName, owner: '', description: '' })
      .with({
        '@type': 'type.googleapis.com/google.rpc.BadRequest',
        field_violations: [{ field: key, description: `input key/keyPrefix '${key}' can't contain '||'` }],
      });
  }
  return prefix === '' ? key : `${prefix}||${key}`;
}

/**
 * The client's key of `stored` if it is under `prefix` (what `storedKey(prefix, '', ...)` gives): the rest, unless
 * that holds `||` and so is no key a client could have saved (actor state `<app>||<type>||<id>||<key>`, or
 * another app's key where there is no prefix).
 */
export function keyUnder(prefix: string, stored: string): string | undefined {
  return stored.startsWith(prefix) && !stored.includes('||', prefix.length) ? stored.slice(prefix.length) : undefined;
}

/** The client's key from a stored key (`GetOriginalStateKey`: the part after the first `||`). */
export function originalKey(stored: string): string {
  const i = stored.indexOf('||');
  return i < 0 ? stored : stored.slice(i + 2);
}

function badKey(_key: string, storeName: string, why: string): MortarError {
  return new MortarError('ERR_MALFORMED_REQUEST', [why])
    .with({ '@type': 'type.googleapis.com/google.rpc.ResourceInfo', resource_type: 'state', resource_name: storeName, owner: '', description: '' })
    .with({ '@type': 'type.googleapis.com/google.rpc.BadRequest', field_violations: [{ field: 'key', description: why }] });
}

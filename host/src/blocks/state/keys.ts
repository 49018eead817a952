import { MortarError } from '../../errors.js';

/**
 * Dapr's state key scheme (`pkg/components/state/state_config.go`): the stored key is `<prefix>||<key>`
 * where the prefix comes from the component's `keyPrefix` metadata: `appid` (default), `name` (store name),
 * `namespace` (`<ns>.<appId>`), `none` (no prefix), or any other literal.
 */
export function keyPrefix(scheme: string | undefined, appId: string, storeName: string, namespace = process.env.NAMESPACE ?? ''): string {
  switch ((scheme ?? 'appid').toLowerCase()) {
    case 'appid': return appId;
    case 'name': return storeName;
    case 'namespace': return namespace ? `${namespace}.${appId}` : appId;
    case 'none': return '';
    default: return scheme!;
  }
}

/** Validates a client key and returns the stored key. Throws ERR_STATE_ILLEGAL_KEY for keys with `||`. */
export function storedKey(prefix: string, key: string, storeName: string): string {
  if (key.includes('||')) {
    throw new MortarError('ERR_STATE_ILLEGAL_KEY', [key])
      .with({ '@type': 'type.googleapis.com/google.rpc.ResourceInfo', resource_type: 'state', resource_name: storeName, owner: '', description: '' })
      .with({ '@type': 'type.googleapis.com/google.rpc.BadRequest', field_violations: [{ field: key, description: `input key/keyPrefix '${key}' can't contain '||'` }] });
  }
  return prefix === '' ? key : `${prefix}||${key}`;
}

/** The client's key from a stored key (`GetOriginalStateKey`: the part after the first `||`). */
export function originalKey(stored: string): string {
  const i = stored.indexOf('||');
  return i < 0 ? stored : stored.slice(i + 2);
}

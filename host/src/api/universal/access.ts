/**
 * The access checks of the universal API, made here once for every transport: what a caller may do with a
 * component. Today: pub/sub topic scopes on publish (`publishingScopes`, `allowedTopics`,
 * `protectedTopics`; see `blocks/pubsub/scopes.ts`). A Wasm workload's own grants will be checked here too.
 */
import { MortarError } from '../../errors.js';
import type { ActiveComponent } from '../../components/registry.js';
import { topicAllowed } from '../../blocks/pubsub/scopes.js';
import type { Caller } from './caller.js';

/** Throws 403 `ERR_PUBSUB_FORBIDDEN` unless `caller` may publish to `topic` on the pub/sub component `c`. */
export function checkPublish(caller: Caller, c: ActiveComponent, topic: string): void {
  if (!topicAllowed(c.hostMetadata, caller.appId, topic, true)) throw new MortarError('ERR_PUBSUB_FORBIDDEN', [topic, caller.appId]);
}

/**
 * The pub/sub block's one way into a broker component: typed calls to its `pubsub` export (types generated
 * from `wit/pubsub.wit`), and what its `pubsub-error` variants mean for a publish in Dapr's terms. Same
 * pattern as the state block's `StoreClient`.
 */
import type * as Pubsub from '../../../generated/interfaces/mortar-component-pubsub.js';
import type { BulkFailure, Delivery, PublishRequest, PubsubError, SettleRef, Subscription } from '../../../generated/interfaces/mortar-component-pubsub.js';
import { MortarError } from '../../errors.js';
import { ComponentCallError, type InstancePool } from '../../components/sandbox/pool.js';
import { typedCall, type TypedCall } from '../../components/sandbox/typed-call.js';
import { BLOCKS } from '../../building-blocks.js';

export type { BulkFailure, Delivery, PublishRequest, PubsubError, SettleRef, Subscription } from '../../../generated/interfaces/mortar-component-pubsub.js';

/** Calls into one broker's pool (its main pool for publishes, its side pool for a delivery loop). */
export class BrokerClient {
  readonly #call: TypedCall<typeof Pubsub>;

  constructor(readonly pool: InstancePool) {
    this.#call = typedCall<typeof Pubsub>(pool, BLOCKS.pubsub.interfaces.pubsub);
  }

  /** Resolves once the broker accepted `req`. */
  publish(req: PublishRequest, timeoutMs?: number): Promise<void> {
    return this.#call('publish', [req], timeoutMs);
  }
  /** The entries the broker did not accept, by position (empty: all were). */
  bulkPublish(reqs: PublishRequest[], timeoutMs?: number): Promise<BulkFailure[]> {
    return this.#call('bulkPublish', [reqs], timeoutMs);
  }
  /** Resolves once the subscription exists at the broker. */
  subscribe(sub: Subscription, timeoutMs?: number): Promise<void> {
    return this.#call('subscribe', [sub], timeoutMs);
  }
  /** Up to `max` messages for any of `subs`, waiting up to `waitMs` for the first (`timeoutMs` must allow for the wait). */
  fetch(subs: Subscription[], max: number, waitMs: number, timeoutMs?: number): Promise<Delivery[]> {
    return this.#call('fetch', [subs, max, waitMs], timeoutMs);
  }
  ack(refs: SettleRef[], timeoutMs?: number): Promise<void> {
    return this.#call('ack', [refs], timeoutMs);
  }
  nack(refs: SettleRef[], delayMs: number, timeoutMs?: number): Promise<void> {
    return this.#call('nack', [refs, delayMs], timeoutMs);
  }
  close(sub: Subscription, timeoutMs?: number): Promise<void> {
    return this.#call('close', [sub], timeoutMs);
  }

  /** The pool's call deadline (`InstancePool.callTimeout`). */
  callTimeout(policyTimeoutMs?: number): number {
    return this.pool.callTimeout(policyTimeoutMs);
  }
  /** How many calls keep every instance busy (`InstancePool.capacity`). */
  get capacity(): number {
    return this.pool.capacity;
  }
  /** See `InstancePool.stalledAfterMs`. */
  get stalledAfterMs(): number {
    return this.pool.stalledAfterMs;
  }
}

const clients = new WeakMap<InstancePool, BrokerClient>();

/** The client of the broker running in `pool` (one per pool: a reloaded component gets a fresh one). */
export function brokerClient(pool: InstancePool): BrokerClient {
  let c = clients.get(pool);
  if (!c) clients.set(pool, (c = new BrokerClient(pool)));
  return c;
}

/** The broker's `pubsub-error` a call rejected with, if it did. */
function pubsubErrorOf(err: unknown): PubsubError | undefined {
  return err instanceof ComponentCallError ? (err.error as PubsubError) : undefined;
}

function describe(err: unknown): string {
  if (err instanceof ComponentCallError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * The catalogue error for a failed publish to `topic` of `pubsub`: a topic the broker does not have is
 * ERR_PUBSUB_NOT_FOUND (400, as daprd reports it), the host's own pub/sub errors stand, anything else is
 * ERR_PUBSUB_PUBLISH_MESSAGE with the broker's message.
 */
export function publishError(err: unknown, topic: string, pubsub: string): MortarError {
  if (pubsubErrorOf(err)?.tag === 'not-found') {
    return new MortarError('ERR_PUBSUB_NOT_FOUND', [pubsub], { http: 400, reason: 'DAPR_PUBSUB_TEST_NOT_FOUND' });
  }
  if (err instanceof MortarError && err.code.startsWith('ERR_PUBSUB')) return err;
  return new MortarError('ERR_PUBSUB_PUBLISH_MESSAGE', [topic, pubsub, describe(err)], { cause: err });
}

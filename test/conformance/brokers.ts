/**
 * The broker components every pub/sub conformance test runs against, each with the metadata that points it
 * at this machine's shared server. `MORTAR_TEST_BROKERS=pubsub.redis,pubsub.mqtt3` selects only those.
 */
import { AMQP_URL, MQTT_URL, NATS_URL, REDIS_HOST } from '../helpers/sidecar.js';

export interface Broker {
  readonly type: string;
  readonly metadata: () => Record<string, string>;
  /** The features the component declares (`capabilities` in the metadata API). */
  readonly features: string[];
}

export const BROKERS: readonly Broker[] = [
  { type: 'pubsub.in-memory', metadata: () => ({}), features: ['BULK_PUBLISH'] },
  { type: 'pubsub.redis', metadata: () => ({ redisHost: REDIS_HOST, processingTimeout: '5s', redeliverInterval: '1s' }), features: ['BULK_PUBLISH'] },
  { type: 'pubsub.rabbitmq', metadata: () => ({ connectionString: AMQP_URL }), features: ['BULK_PUBLISH', 'MESSAGE_TTL'] },
  { type: 'pubsub.mqtt3', metadata: () => ({ url: MQTT_URL, cleanSession: 'true' }), features: [] },
  { type: 'pubsub.jetstream', metadata: () => ({ natsURL: NATS_URL, memoryStorage: 'true' }), features: ['BULK_PUBLISH'] },
];

/** The brokers selected for this run (all, unless `MORTAR_TEST_BROKERS` names some). */
export function selectedBrokers(): Broker[] {
  const only = process.env.MORTAR_TEST_BROKERS?.split(',');
  return BROKERS.filter((b) => !only || only.includes(b.type));
}

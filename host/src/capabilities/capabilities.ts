/**
 * Every bridged capability's host side, by name: the capability thread routes each bridge operation to these
 * (`host-endpoint.ts`). The type asks for exactly the capabilities of `CAPABILITY_SHAPES`, each with one handler
 * per function, static and method of its shape.
 *
 * Adding a capability: its WIT in `wit/deps/host/<name>.wit`, its shape in `shapes.ts`, its handlers (with the
 * grant its constructor needs) next to its implementation in `<name>.ts`, listed here; a grant kind in
 * `grants.ts` if it reaches something new. The sandbox's imports follow from the shape.
 */
import type { CapabilityName } from './shapes.js';
import type { CapabilityHandlers } from './capability.js';
import { redisCapability } from './redis.js';
import { sqlCapability } from './sql.js';
import { amqpCapability } from './amqp.js';
import { mqttCapability } from './mqtt.js';
import { natsCapability } from './nats.js';
import { httpCapability } from './http.js';
import { directoryCapability } from './directory.js';

/** The host side of every capability. */
export const CAPABILITY_HANDLERS: { readonly [C in CapabilityName]: CapabilityHandlers<C> } = {
  redis: redisCapability,
  sql: sqlCapability,
  amqp: amqpCapability,
  mqtt: mqttCapability,
  nats: natsCapability,
  http: httpCapability,
  directory: directoryCapability,
};

// An ordinary Dapr app: it only knows the official SDK and DAPR_HTTP_PORT, which `mortar run -- ...` sets.
import { CommunicationProtocolEnum, DaprClient } from '@dapr/dapr';

const client = new DaprClient({
  daprHost: '127.0.0.1',
  daprPort: process.env.DAPR_HTTP_PORT ?? '3500',
  communicationProtocol: CommunicationProtocolEnum.HTTP,
});

const order = { id: `order-${Date.now()}`, item: 'espresso', quantity: 2 };
await client.state.save('statestore', [{ key: order.id, value: order }]);
console.log('saved', order.id);
console.log('read back', await client.state.get('statestore', order.id));
await client.state.transaction('statestore', [
  { operation: 'upsert', request: { key: `${order.id}-status`, value: 'paid' } },
  { operation: 'delete', request: { key: order.id } },
]);
console.log('after transaction', await client.state.getBulk('statestore', [order.id, `${order.id}-status`]));

/**
 * An orders workload: a Wasm component that serves HTTP and uses mortar's building blocks through
 * `mortar:app`, with the guest SDK. Its state is the workload's own (keys prefixed with its app id), its
 * events are CloudEvents whose source is its app id, and it receives events as a Dapr app does.
 *
 *   POST /orders        {"id": "42", "item": "book"}  saves the order and publishes it to `orders`
 *   GET  /orders/:id    the saved order, or 404
 *   GET  /stats         how many order events the subscription received (a counter updated with ETags)
 *   GET  /dapr/subscribe and POST /events/orders: the subscription, answered and delivered by the sidecar
 */
import { AppError, HttpError, Router, serve, state, pubsub, Subscriptions, appId } from '@mortar/guest';

interface Order {
  id: string;
  item: string;
}

const store = state('statestore');
const broker = pubsub('pubsub');
const router = new Router();

router.post('/orders', (req) => {
  const order = req.json<Order>();
  if (typeof order.id !== 'string' || order.id === '') throw new HttpError(400, 'id: a non-empty string is required');
  store.save(`order-${order.id}`, order);
  broker.publish('orders', order);
  return { status: 201, body: { saved: order.id, by: appId() } };
});

router.get('/orders/:id', (req) => {
  const item = store.get(`order-${req.params.id}`);
  return item ? { body: item.json<Order>() } : { status: 404, body: `no order ${req.params.id}` };
});

router.get('/stats', () => ({ body: { received: store.get('received')?.json<number>() ?? 0 } }));

/** Adds one to the `received` counter, retrying when another instance wrote it in between (ETag mismatch). */
function countReceived(): void {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = store.get('received');
    try {
      store.save('received', (current?.json<number>() ?? 0) + 1, { etag: current?.etag, concurrency: 'first-write' });
      return;
    } catch (e) {
      if (!(e instanceof AppError && e.kind === 'etag-mismatch')) throw e;
    }
  }
  throw new Error('the counter kept changing');
}

new Subscriptions(router).add<Order>({ pubsubName: 'pubsub', topic: 'orders', route: '/events/orders' }, (event) => {
  if (typeof event.data?.id !== 'string') return 'DROP';
  countReceived();
  return 'SUCCESS';
});

export const incomingHandler = serve(router);

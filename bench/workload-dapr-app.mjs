// The baseline of the workloads benchmark: the same logic as the Wasm workload's `/kv?key=` route, written as a
// Node HTTP app calling its sidecar with the official @dapr/dapr client (one state get per request).
import http from 'node:http';
import { CommunicationProtocolEnum, DaprClient } from '@dapr/dapr';

const [port, daprPort, store] = process.argv.slice(2);
const client = new DaprClient({ daprHost: '127.0.0.1', daprPort, communicationProtocol: CommunicationProtocolEnum.HTTP });
http
  .createServer(async (req, res) => {
    const key = new URL(req.url, 'http://x').searchParams.get('key');
    const value = await client.state.get(store, key);
    if (value === '' || value === undefined) {
      res.writeHead(404).end('missing');
      return;
    }
    res.writeHead(200).end(typeof value === 'string' ? value : JSON.stringify(value));
  })
  .listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));

/**
 * The files `mortar component new <name> --workload` writes: a working Wasm workload (an HTTP handler using the
 * building blocks through `mortar:app` and mortar's guest SDK), built by `mortar component build`. The SDK and
 * the WIT ship with mortar: nothing to install, and the folder builds anywhere.
 */
import { GUEST_SDK_SPECIFIER } from '../components/toolchain.js';
import { type TemplateFile, projectFiles } from './component-templates.js';

const INDEX = (name: string) => `/**
 * ${name}: a mortar workload. It serves HTTP through wasi:http/incoming-handler and calls the building blocks
 * through mortar:app with the guest SDK (@mortar/guest, shipped with mortar):
 *
 *   GET  /hello             who am I (the workload's app id)
 *   POST /counter           adds one to a counter in the state store (safe under concurrency: ETags)
 *   GET  /counter           the counter
 *   POST /notes             publishes the JSON body to the \`notes\` topic
 *   POST /events/notes      receives \`notes\` events (the sidecar reads GET /dapr/subscribe, as for an HTTP app)
 *
 * Build: \`npm run build\` (mortar component build index.ts -o ${name}.wasm).
 * Run: \`mortar up\` (spin.toml; the workload is the sidecar's app, so the sidecar reads its subscriptions
 * and delivers their events to it).
 */
import { AppError, Router, Subscriptions, appId, pubsub, serve, state } from ${JSON.stringify(GUEST_SDK_SPECIFIER)};

const store = state('statestore');
const router = new Router();

router.get('/hello', () => ({ body: { hello: appId() } }));

router.get('/counter', () => ({ body: { value: store.get('counter')?.json<number>() ?? 0 } }));

router.post('/counter', () => {
  // Read, add one, write back only if nobody wrote in between (the ETag); else read again.
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = store.get('counter');
    const value = (current?.json<number>() ?? 0) + 1;
    try {
      store.save('counter', value, { etag: current?.etag, concurrency: 'first-write' });
      return { body: { value } };
    } catch (e) {
      if (!(e instanceof AppError && e.kind === 'etag-mismatch')) throw e;
    }
  }
  return { status: 409, body: 'the counter kept changing; try again' };
});

router.post('/notes', (req) => {
  pubsub('pubsub').publish('notes', req.json());
  return { status: 202 };
});

new Subscriptions(router).add({ pubsubName: 'pubsub', topic: 'notes', route: '/events/notes' }, (event) => {
  store.save('last-note', event.data as object);
  return 'SUCCESS';
});

export const incomingHandler = serve(router);
`;

/** The Spin manifest `mortar up` runs: every path to the built component, the app id `name`. */
const MANIFEST = (name: string) => `spin_manifest_version = 2

# mortar up runs this: the workload on --listen (default 127.0.0.1:3000), the sidecar's Dapr API beside it.
# The workload is the sidecar's app: the sidecar reads its subscriptions and delivers their events to it.
[application]
# The workload's app id: the prefix of its state keys, the source of the events it publishes.
name = "${name}"

[[trigger.http]]
route = "/..."
component = "${name}"

[component.${name}]
source = "${name}.wasm"

[component.${name}.build]
command = "npm run build"
`;

/** The files of a new workload `name`; `sdkEntry` is the guest SDK's entry in the mortar package (for tsc). */
export function workloadTemplateFiles(name: string, sdkEntry: string): TemplateFile[] {
  const [packageJson, tsconfig] = projectFiles({
    name,
    description: `A mortar workload (wasi:http handler using mortar:app)`,
    mortar: { workload: true },
    lib: ['ES2022', 'esnext.disposable'],
    paths: { [GUEST_SDK_SPECIFIER]: [sdkEntry] },
  });
  return [
    { path: 'index.ts', text: INDEX(name) },
    { path: 'spin.toml', text: MANIFEST(name) },
    packageJson,
    tsconfig,
    { path: '.gitignore', text: '*.wasm\n' },
  ];
}

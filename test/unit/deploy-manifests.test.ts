/**
 * The Kubernetes manifests in deploy/: every object is valid against the Kubernetes API schemas
 * (kubernetes-models) or, for SpinKube's SpinApp, against the schema of its CRD; and the rules that make them
 * work with mortar hold: the container's flags, ports, probes and Service agree, mortar's args are ones it
 * accepts, the pod is non-root with a read-only root filesystem and its writes on an emptyDir at --data-dir,
 * resources are set, the grace period covers mortar's own graceful stop, and the SpinApp reaches the shared
 * service through its allowed_outbound_hosts. mortar's own parsers read what it would run: deploy/spinapp's
 * spin.toml (its variable and the allow-list it fills) and deploy/mortar-up's `mortar up` args. No cluster
 * runs here.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parse } from 'yaml';
import { DEFAULTS } from '../../host/src/config.js';
import { parseRunArgs } from '../../host/src/main.js';
import { parseSpinManifest } from '../../host/src/workloads/spin-manifest.js';
import { EMPTY_RUNTIME_CONFIG } from '../../host/src/workloads/spin-runtime-config.js';
import { planWorkload } from '../../host/src/workloads/spin-workload.js';
import { parseUpArgs } from '../../host/src/workloads/up-args.js';
import { instructions, parseContainerfile } from '../helpers/containerfile.js';
import { DEPLOY_DIR, type Manifest, readManifests, unknownFields, validateObject, yamlFiles } from '../helpers/k8s.js';
import { ROOT } from '../helpers/sidecar.js';

// Plain shapes of the parts of the objects read here (kubernetes-models validated them first).
interface Port {
  name?: string;
  containerPort: number;
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  args?: string[];
  ports?: Port[];
  env?: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[] }; seccompProfile?: { type: string } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  automountServiceAccountToken?: boolean;
  securityContext?: Record<string, unknown> & { seccompProfile?: { type: string } };
  containers: Container[];
  volumes?: { name: string; emptyDir?: object; configMap?: { name: string } }[];
}
interface Deployment {
  metadata: { name: string };
  spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface ServiceObj {
  metadata: { name: string };
  spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string | number }[] };
}
interface NetworkPolicyObj {
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    ingress: { from?: { podSelector?: { matchLabels: Record<string, string> } }[]; ports?: { port: string | number }[] }[];
  };
}

const manifests = readManifests();
const folders = [...new Set(manifests.map((m) => dirname(m.file)))].sort();
const of = <T>(kind: string, folder?: string) =>
  manifests.filter((m) => m.object.kind === kind && (folder === undefined || dirname(m.file) === folder)).map((m) => m.object as unknown as T);
const deployments = manifests.filter((m) => m.object.kind === 'Deployment');

/** The value after `--flag` in `args` (undefined when absent). */
function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** The mortar container of a Deployment and the folder it is in. */
function mortarOf(m: Manifest): { d: Deployment; pod: PodSpec; c: Container; folder: string } {
  const d = m.object as unknown as Deployment;
  const pod = d.spec.template.spec;
  const c = pod.containers.find((x) => x.name === 'mortar');
  assert.ok(c, `${m.file}: a container named mortar`);
  return { d, pod, c, folder: dirname(m.file) };
}

/** The container port a probe or Service names (by name or number). */
function portOf(c: Container, ref: string | number): number | undefined {
  return typeof ref === 'number' ? c.ports?.find((p) => p.containerPort === ref)?.containerPort : c.ports?.find((p) => p.name === ref)?.containerPort;
}

/** CPU in millicores, memory in bytes (the Kubernetes quantities used here). */
function quantity(resource: string, q: string): number {
  if (resource === 'cpu') return q.endsWith('m') ? Number(q.slice(0, -1)) : Number(q) * 1000;
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(q);
  assert.ok(m, `memory quantity ${q}`);
  return Number(m[1]) * ({ Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] ?? ''] ?? 1);
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The uid:gid the image's USER sets. */
function imageUser(): { uid: number; gid: number } {
  const user = instructions(parseContainerfile().stages.at(-1)!, 'USER')[0]!.args;
  const [uid, gid = uid] = user.split(':').map(Number);
  return { uid: uid!, gid: gid! };
}

describe('deploy/ manifests', () => {
  it('are there: the shared sidecar service, the SpinApp and mortar up, each a kustomization of its folder', () => {
    assert.deepEqual(folders, ['deploy/mortar-up', 'deploy/shared', 'deploy/spinapp']);
    for (const folder of folders) {
      const k = parse(readFileSync(join(ROOT, folder, 'kustomization.yaml'), 'utf8')) as { apiVersion: string; kind: string; resources: string[] };
      assert.equal(k.apiVersion, 'kustomize.config.k8s.io/v1beta1');
      assert.equal(k.kind, 'Kustomization');
      const files = yamlFiles(join(ROOT, folder))
        .map((f) => relative(join(ROOT, folder), f))
        .filter((f) => f !== 'kustomization.yaml');
      assert.deepEqual([...k.resources].sort(), files, `${folder}/kustomization.yaml lists exactly the folder's manifests`);
    }
  });

  for (const m of manifests) {
    it(`${m.file}${m.index ? ` #${m.index}` : ''} (${m.object.kind} ${(m.object.metadata as { name?: string })?.name}) is valid against the Kubernetes API schema`, () => {
      assert.deepEqual(validateObject(m.object), []);
      const meta = m.object.metadata as { name?: string; namespace?: string };
      assert.ok(meta.name, 'has a name');
      assert.equal(meta.namespace, undefined, 'sets no namespace: kubectl -n or kustomize picks it');
    });
  }

  it('set no field the Kubernetes API does not define (what kubectl apply --validate=strict refuses)', () => {
    assert.deepEqual(unknownFields(manifests.map((m) => m.object)), []);
  });

  it('the field check finds a misspelt field deep in a pod template and names it and its type', () => {
    const d = structuredClone(deployments[0]!.object) as unknown as Deployment;
    const sc = d.spec.template.spec.containers[0]!.securityContext!;
    sc.readOnlyRootFileSystem = sc.readOnlyRootFilesystem;
    delete sc.readOnlyRootFilesystem;
    const found = unknownFields([d as unknown as Record<string, unknown>]);
    assert.equal(found.length, 1, found.join('\n'));
    assert.match(found[0]!, /^Deployment \S+: .*readOnlyRootFileSystem.* does not exist in type 'ISecurityContext'/);
  });

  it('the validator refuses what the API server would: a wrong type, a missing required field, an unknown SpinApp field, an unknown kind', () => {
    const d = structuredClone(deployments[0]!.object) as unknown as Deployment;
    (d.spec.template.spec.containers[0]!.ports![0] as unknown as { containerPort: string }).containerPort = '3500';
    assert.match(validateObject(d as unknown as Record<string, unknown>).join('\n'), /containerPort must be integer/);
    const noImage = structuredClone(deployments[0]!.object) as unknown as { spec: { template: { spec: { containers: { name?: string }[] } } } };
    delete noImage.spec.template.spec.containers[0]!.name;
    assert.match(validateObject(noImage as unknown as Record<string, unknown>).join('\n'), /name/);
    const spin = structuredClone(of<Record<string, unknown>>('SpinApp')[0]!) as { spec: Record<string, unknown> };
    spin.spec.replica = 2;
    assert.match(validateObject(spin as unknown as Record<string, unknown>).join('\n'), /additional properties/);
    const spin2 = structuredClone(of<Record<string, unknown>>('SpinApp')[0]!) as { spec: Record<string, unknown> };
    delete spin2.spec.image;
    assert.match(validateObject(spin2 as unknown as Record<string, unknown>).join('\n'), /required property 'image'/);
    const spin3 = structuredClone(of<Record<string, unknown>>('SpinApp')[0]!) as { spec: Record<string, unknown> };
    spin3.spec.volumes = [{ name: 'v', emptyDir: { sizeLimit: [] } }];
    assert.match(validateObject(spin3 as unknown as Record<string, unknown>).join('\n'), /Volume: .*sizeLimit/);
    assert.match(validateObject({ apiVersion: 'v9', kind: 'Thing' }).join(''), /no schema for v9\/Thing/);
  });

  for (const m of deployments) {
    describe(`${m.file}`, () => {
      const { d, pod, c, folder } = mortarOf(m);
      const args = c.args ?? [];

      it('runs mortar with args it accepts, serving on every interface with its ports and data dir as the container declares', () => {
        assert.ok(['run', 'up'].includes(args[0]!), `args start with run or up: ${args.join(' ')}`);
        assert.equal(flag(args, '--dapr-listen-addresses'), '0.0.0.0', 'the kubelet and the Service reach the pod address, not loopback');
        const http = Number(flag(args, '--dapr-http-port') ?? DEFAULTS.httpPort);
        const grpc = Number(flag(args, '--dapr-grpc-port') ?? DEFAULTS.grpcPort);
        assert.equal(portOf(c, 'dapr-http'), http, 'the port named dapr-http is --dapr-http-port');
        assert.equal(portOf(c, 'dapr-grpc'), grpc, 'the port named dapr-grpc is --dapr-grpc-port');
        if (args[0] === 'run') {
          // mortar's own parser: every flag is known and applied.
          const { config, ignored, command } = parseRunArgs(args.slice(1), {});
          assert.deepEqual(ignored, []);
          assert.deepEqual(command, []);
          assert.equal(config.httpPort, http);
          assert.equal(config.grpcPort, grpc);
        } else {
          // `mortar up` (issue 13): spin up's -f and --listen taken by its own parser, the rest by mortar run's.
          const up = parseUpArgs(args.slice(1), {});
          assert.deepEqual(up.ignored, []);
          assert.equal(up.help, false);
          assert.equal(up.from, flag(args, '-f'), 'up names its spin.toml with -f');
          assert.deepEqual(up.listen, { host: '0.0.0.0', port: portOf(c, 'http') }, 'the app listens on every interface, on the port named http');
          const { config, ignored, command } = parseRunArgs([...up.rest], {});
          assert.deepEqual(ignored, []);
          assert.deepEqual(command, []);
          assert.equal(config.httpPort, http);
          assert.equal(config.grpcPort, grpc);
        }
      });

      it('probes: startup and liveness on /v1.0/healthz/outbound, readiness on /v1.0/healthz, all on the dapr-http port', () => {
        const http = portOf(c, 'dapr-http');
        for (const [probe, path] of [
          ['startupProbe', '/v1.0/healthz/outbound'],
          ['livenessProbe', '/v1.0/healthz/outbound'],
          ['readinessProbe', '/v1.0/healthz'],
        ] as const) {
          const p = c[probe];
          assert.ok(p?.httpGet, `${probe} is an httpGet`);
          assert.equal(p.httpGet.path, path, `${probe} path`);
          assert.equal(portOf(c, p.httpGet.port), http, `${probe} port is the dapr-http port`);
        }
      });

      it("stops gracefully within the grace period: preStop sleep + mortar's own bound on its stop", () => {
        const graceful = Number(flag(args, '--dapr-graceful-shutdown-seconds') ?? DEFAULTS.gracefulShutdownSeconds);
        const sleep = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
        assert.ok(sleep > 0, 'a preStop sleep lets endpoint removal reach the nodes before SIGTERM');
        // host/src/main.ts: on SIGTERM mortar exits by itself at the latest max(graceful, app stop grace) + 2 s.
        const mortarBound = Math.max(graceful, DEFAULTS.appStopGraceMs / 1000) + 2;
        const period = pod.terminationGracePeriodSeconds ?? 30;
        assert.ok(period >= sleep + mortarBound, `terminationGracePeriodSeconds ${period} >= ${sleep} + ${mortarBound}`);
      });

      it('sets requests and limits for cpu and memory, requests within limits', () => {
        for (const r of ['cpu', 'memory']) {
          const req = c.resources?.requests?.[r];
          const lim = c.resources?.limits?.[r];
          assert.ok(req && lim, `${r} request and limit`);
          assert.ok(quantity(r, req) <= quantity(r, lim), `${r}: ${req} <= ${lim}`);
        }
      });

      it("is non-root (the image's uid), read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault seccomp", () => {
        const psc = pod.securityContext ?? {};
        const csc = c.securityContext ?? {};
        assert.equal(psc.runAsNonRoot ?? csc.runAsNonRoot, true);
        assert.equal(csc.readOnlyRootFilesystem, true);
        assert.equal(csc.allowPrivilegeEscalation, false);
        assert.deepEqual(csc.capabilities?.drop, ['ALL']);
        assert.equal((csc.seccompProfile ?? psc.seccompProfile)?.type, 'RuntimeDefault');
        const { uid, gid } = imageUser();
        assert.equal(csc.runAsUser ?? psc.runAsUser, uid, 'runAsUser is the Containerfile USER');
        assert.equal(csc.runAsGroup ?? psc.runAsGroup, gid);
        assert.equal(psc.fsGroup, gid, 'the emptyDir is the group of the user');
        assert.equal(pod.automountServiceAccountToken, false, 'mortar never calls the API server');
      });

      it('writes only to an emptyDir at --data-dir; components come read-only from a ConfigMap of this folder at --resources-path', () => {
        const mount = (path: string) => c.volumeMounts?.find((v) => v.mountPath === path);
        const volume = (name: string) => pod.volumes?.find((v) => v.name === name);
        const data = flag(args, '--data-dir');
        assert.ok(data, '--data-dir is given');
        const dm = mount(data);
        assert.ok(dm && !dm.readOnly, `a writable mount at ${data}`);
        assert.ok(volume(dm.name)?.emptyDir, `${data} is an emptyDir`);
        const writable = (c.volumeMounts ?? []).filter((v) => !v.readOnly).map((v) => v.mountPath);
        assert.deepEqual(writable, [data], 'the data dir is the only writable mount');
        const res = flag(args, '--resources-path');
        assert.ok(res, '--resources-path is given');
        const rm = mount(res);
        assert.ok(rm?.readOnly, `${res} is mounted read-only`);
        const cmName = volume(rm.name)?.configMap?.name;
        const cm = of<{ metadata: { name: string }; data: Record<string, string> }>('ConfigMap', folder).find((x) => x.metadata.name === cmName);
        assert.ok(cm, `the ConfigMap ${cmName} is in ${folder}`);
        for (const [file, text] of Object.entries(cm.data)) {
          const comp = parse(text) as { apiVersion: string; kind: string; metadata: { name: string }; spec: { type: string } };
          assert.equal(comp.apiVersion, 'dapr.io/v1alpha1', `${cmName}/${file}`);
          assert.equal(comp.kind, 'Component', `${cmName}/${file}`);
        }
        // The pod's own name and namespace, as daprd reads them (sidecar id, keyPrefix namespace).
        const env = new Map((c.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
        assert.equal(env.get('POD_NAME'), 'metadata.name');
        assert.equal(env.get('NAMESPACE'), 'metadata.namespace');
      });

      it('has a Service in its folder that selects its pods and targets its container ports', () => {
        const labels = d.spec.template.metadata.labels;
        assert.ok(matches(d.spec.selector.matchLabels, labels), 'the Deployment selects its own pods');
        const svcs = of<ServiceObj>('Service', folder).filter((s) => matches(s.spec.selector, labels));
        assert.equal(svcs.length, 1, `one Service in ${folder} selects ${d.metadata.name}`);
        for (const p of svcs[0]!.spec.ports) assert.ok(portOf(c, p.targetPort), `Service port ${p.name} targets a container port (${p.targetPort})`);
        const policies = of<NetworkPolicyObj>('NetworkPolicy', folder).filter((n) => matches(n.spec.podSelector.matchLabels, labels));
        assert.equal(policies.length, 1, `one NetworkPolicy in ${folder} selects ${d.metadata.name}`);
        for (const rule of policies[0]!.spec.ingress) for (const p of rule.ports ?? []) assert.ok(portOf(c, p.port), `policy port ${p.port}`);
      });
    });
  }

  it('the shared service keeps a replica through voluntary disruptions: its PodDisruptionBudget selects its pods, below its replica count', () => {
    const d = mortarOf(deployments.find((m) => m.file === 'deploy/shared/deployment.yaml')!).d as Deployment & { spec: { replicas: number } };
    const pdbs = of<{ spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget', 'deploy/shared');
    assert.equal(pdbs.length, 1);
    assert.ok(matches(pdbs[0]!.spec.selector.matchLabels, d.spec.template.metadata.labels));
    assert.ok(pdbs[0]!.spec.minAvailable >= 1 && pdbs[0]!.spec.minAvailable < d.spec.replicas, 'a drain can still evict one pod at a time');
  });

  it('the shared service exposes the Dapr HTTP API on 3500 and gRPC on 50001', () => {
    const svc = of<ServiceObj>('Service', 'deploy/shared')[0]!;
    assert.deepEqual(
      svc.spec.ports.map((p) => [p.name, p.port, p.targetPort]),
      [
        ['dapr-http', DEFAULTS.httpPort, 'dapr-http'],
        ['dapr-grpc', DEFAULTS.grpcPort, 'dapr-grpc'],
      ],
    );
  });

  it("the SpinApp's Spin app reaches the shared service: its spin.toml parses with mortar's own manifest parser; mortar_url and the allow-list it fills name the Service's origin, and the policy admits its pods", () => {
    const spin = of<{ spec: { podLabels: Record<string, string>; variables: { name: string; value?: string }[] } }>('SpinApp', 'deploy/spinapp')[0]!;
    const svc = of<ServiceObj>('Service', 'deploy/shared')[0]!;
    const origin = `http://${svc.metadata.name}:${svc.spec.ports.find((p) => p.name === 'dapr-http')!.port}`;
    const set = spin.spec.variables.find((v) => v.name === 'mortar_url')?.value;
    assert.equal(set, origin);
    const file = join(DEPLOY_DIR, 'spinapp/spin.toml');
    // mortar's reading of the manifest (Spin's rules: unknown fields refused), its source not built here.
    const app = parseSpinManifest(readFileSync(file, 'utf8'), file, false);
    assert.equal(app.variables.get('mortar_url')?.default, origin, 'the variable the SpinApp sets is declared, with the same default');
    // SpinKube hands the SpinApp's variables to Spin as SPIN_VARIABLE_<NAME>; with it, and with the default alone.
    for (const env of [{ SPIN_VARIABLE_MORTAR_URL: set }, {}]) {
      const plan = planWorkload(app, { runtimeConfig: EMPTY_RUNTIME_CONFIG, variables: { cli: {}, providers: [], env, cwd: ROOT }, env: [] });
      const [c] = [...plan.components.values()];
      assert.equal(plan.components.size, 1);
      assert.equal(c!.variables.get('mortar_url')?.value, origin, 'the handler reads the origin from its variable mortar_url');
      assert.ok(c!.allowedHosts.allows(`${origin}/v1.0/state/statestore/count`, 'http'), 'the state API of the shared service is allowed');
      for (const other of [`http://${svc.metadata.name}:${DEFAULTS.grpcPort}/`, 'http://example.com/', `https://${svc.metadata.name}:3500/`])
        assert.equal(c!.allowedHosts.allows(other, 'http'), false, `${other} is refused`);
    }
    const policy = of<NetworkPolicyObj>('NetworkPolicy', 'deploy/shared')[0]!;
    const admitted = policy.spec.ingress.flatMap((r) => r.from ?? []).map((f) => f.podSelector?.matchLabels ?? {});
    assert.ok(
      admitted.some((sel) => matches(sel, spin.spec.podLabels)),
      "the SpinApp's pods carry a label the shared service's NetworkPolicy admits",
    );
  });

  it('mortar-up: the image it runs is built from the mortar image with the spin.toml its -f names', () => {
    const cf = readFileSync(join(DEPLOY_DIR, 'mortar-up/Containerfile'), 'utf8');
    const { c } = mortarOf(deployments.find((m) => m.file.startsWith('deploy/mortar-up/'))!);
    const baseImage = mortarOf(deployments.find((m) => m.file.startsWith('deploy/shared/'))!).c as unknown as { image: string };
    assert.match(cf, new RegExp(`^FROM ${baseImage.image.replace(/[.]/g, '\\.')}$`, 'm'), 'FROM the image deploy/shared runs');
    assert.match(cf, new RegExp(`^COPY spin\\.toml ${flag(c.args!, '-f')!.replace(/[.]/g, '\\.')}$`, 'm'));
    assert.ok(existsSync(join(DEPLOY_DIR, 'mortar-up/Containerfile')));
    assert.ok(readdirSync(join(DEPLOY_DIR, 'mortar-up')).includes('kustomization.yaml'));
  });

  // Issue 13 item 8's call path itself (a workload under `mortar up` saving and reading state on another sidecar
  // through wasi:http/outgoing-handler, with deploy/spinapp/spin.toml as its manifest) runs real processes: it is
  // in test/e2e/mortar-up.test.ts.
});

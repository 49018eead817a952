/**
 * A Spin app made ready to run: the checked manifest with its variables resolved, each component's outbound
 * allow-list parsed and its key-value labels mapped to Dapr state stores, and the router built. Everything that
 * can be wrong about an app is found here, before anything listens.
 */
import type { SpinApp, StaticResponse } from './spin-manifest.js';
import { type AllowedHosts, parseAllowedHosts } from './outbound-hosts.js';
import { SpinRouter } from './spin-routes.js';
import { stateStoreForLabel, type WorkloadRuntimeConfig } from './spin-runtime-config.js';
import { resolveAppVariables, resolveComponentVariables, type VariableSources, type VariableValue } from './spin-variables.js';

/** One component, ready for the engine. */
export interface WorkloadComponent {
  readonly id: string;
  /** The `.wasm` file, absolute. */
  readonly wasmPath: string;
  /** WASI environment: the manifest's `environment`, then `mortar up -e KEY=VALUE` over it. */
  readonly environment: Readonly<Record<string, string>>;
  /** Component variables (`fermyon:spin/variables`, `wasi:config/store`), resolved. */
  readonly variables: ReadonlyMap<string, VariableValue>;
  /** What the component may reach (`wasi:http/outgoing-handler` and other outbound calls). */
  readonly allowedHosts: AllowedHosts;
  /** Key-value label -> the Dapr state store it opens. A label not listed is not the component's to open. */
  readonly keyValueStores: ReadonlyMap<string, string>;
}

/** The whole workload. */
export interface WorkloadPlan {
  /** `application.name`: the workload's app id. */
  readonly appId: string;
  readonly app: SpinApp;
  readonly components: ReadonlyMap<string, WorkloadComponent>;
  readonly router: SpinRouter;
  /** Trigger id -> static response. */
  readonly staticResponses: ReadonlyMap<string, StaticResponse>;
  /** Every secret value (application and component), for redaction from logs. */
  readonly secretValues: readonly string[];
  /** Lines worth logging at start (deprecated fields, duplicate routes, reserved routes). */
  readonly warnings: readonly string[];
}

/** What the plan takes besides the manifest. */
export interface PlanInputs {
  readonly runtimeConfig: WorkloadRuntimeConfig;
  readonly variables: VariableSources;
  /** `mortar up -e KEY=VALUE`: set in every component's environment. */
  readonly env: ReadonlyArray<readonly [string, string]>;
}

/** Resolves and checks `app`; throws an error naming the field (`component.api.allowed_outbound_hosts`, ...). */
export function planWorkload(app: SpinApp, inputs: PlanInputs): WorkloadPlan {
  const file = app.manifestPath;
  const values = (() => {
    try {
      return resolveAppVariables(app.variables, inputs.variables);
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`);
    }
  })();
  const secrets = [...values.values()].filter((v) => v.secret && v.value !== '').map((v) => v.value);
  /** An error's text with every secret value replaced, so a template that used one does not print it. */
  const redacted = (text: string) => secrets.reduce((t, s) => t.split(s).join('<redacted>'), text);
  const ids = [...app.components.keys()];
  const components = new Map<string, WorkloadComponent>();
  for (const c of app.components.values()) {
    let allowedHosts: AllowedHosts;
    try {
      allowedHosts = parseAllowedHosts(
        c.allowedOutboundHosts,
        (name) => {
          const v = values.get(name);
          if (!v) throw new Error(`unknown variable "${name}"`);
          return v.value;
        },
        ids,
      );
    } catch (err) {
      throw new Error(`${file}: component.${c.id}.allowed_outbound_hosts: \`allowed_outbound_hosts\` is malformed: ${redacted((err as Error).message)}`);
    }
    components.set(c.id, {
      id: c.id,
      wasmPath: c.source,
      environment: { ...c.environment, ...Object.fromEntries(inputs.env) },
      variables: resolveComponentVariables(c, values),
      allowedHosts,
      keyValueStores: new Map(c.keyValueStores.map((l) => [l, stateStoreForLabel(l, inputs.runtimeConfig)])),
    });
  }
  const router = (() => {
    try {
      return new SpinRouter(
        app.httpTriggers.map((t) => ({ target: t.component !== undefined ? { component: t.component } : { trigger: t.id }, route: t.route })),
      );
    } catch (err) {
      throw new Error(`${file}: trigger.http: ${(err as Error).message}`);
    }
  })();
  const warnings = [...app.warnings];
  if (router.duplicates.length > 0)
    warnings.push(
      `The following component routes are duplicates and will never be used: ${router.duplicates.map((d) => `${d.replaced}: ${d.route} (duplicate of ${d.effective})`).join('; ')}`,
    );
  if (router.hasReservedRoute()) warnings.push('Routes under /.well-known/spin/ are handled by the Spin runtime and will never be reached');
  const staticResponses = new Map(app.httpTriggers.flatMap((t) => (t.staticResponse ? [[t.id, t.staticResponse] as const] : [])));
  const secretValues = [
    ...[...values.values()].filter((v) => v.secret).map((v) => v.value),
    ...[...components.values()].flatMap((c) => [...c.variables.values()].filter((v) => v.secret).map((v) => v.value)),
  ].filter((v) => v !== '');
  return { appId: app.name, app, components, router, staticResponses, secretValues: [...new Set(secretValues)], warnings };
}

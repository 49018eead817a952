/**
 * `mortar up`'s command line: `spin up`'s own flags, taken out here, and everything else left for `mortar
 * run`'s parser (`--resources-path`, `--dapr-http-port`, `--data-dir`, ...).
 */
import { parseListenAddress } from './trigger-server.js';

export const UP_USAGE = `Usage:
  mortar up [-f <spin.toml | dir>] [--listen <addr>] [--runtime-config-file <file>] [mortar run flags]

Runs a Spin application (spin_manifest_version = 2): its HTTP triggers on --listen, the sidecar API beside it
under the app id application.name, so HTTP apps and the workload share components.

spin up flags:
  -f, --from <path>                  the manifest, or a directory holding spin.toml (default: ./spin.toml)
  --listen <host:port>               where the HTTP triggers are served (default: 127.0.0.1:3000;
                                     env SPIN_HTTP_LISTEN_ADDR)
  --runtime-config-file <file>       key-value stores and variable providers (env RUNTIME_CONFIG_FILE):
                                     [key_value_store.<label>] type = "mortar", component = "<state store>"
  -e, --env <KEY=VALUE>              set an environment variable in every component (repeatable)
  --variable <k=v | k=@file | @file.json | @file.toml>   set application variables (repeatable)
  accepted, not applied: --state-dir, --log-dir/-L, --follow, --quiet/-q, --disable-pooling, --disable-cache,
  --cache, --cache-dir, --temp, --insecure/-k, --direct-mounts, --truncate-logs
mortar flags: those of mortar run (mortar --help), e.g. --resources-path, --dapr-http-port, --data-dir,
  --max-body-size (also bounds request bodies on --listen); the app id is application.name.
`;

/** `mortar up`'s flags after parsing; `rest` goes to `mortar run`'s parser. */
export interface UpArgs {
  /** `-f`: a manifest or a folder (undefined: `./spin.toml`). */
  readonly from?: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly runtimeConfigFile?: string;
  /** `-e KEY=VALUE`, in order. */
  readonly env: ReadonlyArray<readonly [string, string]>;
  /** `--variable` arguments, unparsed (they may name files). */
  readonly variables: readonly string[];
  /** Spin flags accepted but not applied, as written. */
  readonly ignored: readonly string[];
  readonly help: boolean;
  readonly rest: readonly string[];
}

const VALUE: Readonly<Record<string, string>> = {
  '-f': 'from',
  '--from': 'from',
  '--from-file': 'from',
  '--file': 'from',
  '--listen': 'listen',
  '--runtime-config-file': 'runtime-config-file',
  '-e': 'env',
  '--env': 'env',
  '--variable': 'variable',
};
const IGNORED_WITH_VALUE = ['--state-dir', '--log-dir', '-L', '--follow', '--cache', '--cache-dir', '--temp', '--tmp'];
const IGNORED_BARE = ['--quiet', '-q', '--disable-pooling', '--disable-cache', '--insecure', '-k', '--direct-mounts', '--truncate-logs'];
const REFUSED: Readonly<Record<string, string>> = {
  '--tls-cert': 'TLS on --listen is not supported by mortar up (terminate TLS in front of it)',
  '--tls-key': 'TLS on --listen is not supported by mortar up (terminate TLS in front of it)',
  '--build': 'mortar up does not build the app: run `spin build` first',
  '--from-registry': 'registry applications are not supported by mortar up',
  '-c': 'running a subset of the components is not supported by mortar up',
  '--component-id': 'running a subset of the components is not supported by mortar up',
  '--key-value': 'seeding key-value stores is not supported by mortar up (write through the state API)',
  '--sqlite': 'SQLite databases are not supported by mortar',
  '--find-free-port': '--find-free-port is not supported by mortar up (give --listen a free port)',
};

/** Splits `mortar up`'s argv; throws a usage error naming the flag. */
export function parseUpArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): UpArgs {
  const got: Record<string, string[]> = {};
  const ignored: string[] = [];
  const rest: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') throw new Error('mortar up runs no app command (use mortar run -- <command> for a process app)');
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const take = () => {
      if (inline !== undefined) return inline;
      const v = argv[i + 1];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      i++;
      return v;
    };
    if (flag === '-h' || flag === '--help') help = true;
    else if (VALUE[flag]) (got[VALUE[flag]!] ??= []).push(take());
    else if (REFUSED[flag]) throw new Error(`${flag}: ${REFUSED[flag]}`);
    else if (IGNORED_WITH_VALUE.includes(flag)) ignored.push(`${flag} ${take()}`);
    else if (IGNORED_BARE.includes(flag)) ignored.push(flag);
    else rest.push(arg);
  }
  const one = (k: string) => {
    const v = got[k];
    if (v && v.length > 1) throw new Error(`--${k} given ${v.length} times`);
    return v?.[0];
  };
  const listen = parseListenAddress(one('listen') ?? env.SPIN_HTTP_LISTEN_ADDR ?? '127.0.0.1:3000');
  const envPairs = (got.env ?? []).map((e) => {
    const at = e.indexOf('=');
    if (at <= 0) throw new Error(`--env: '${e}' is not KEY=VALUE`);
    return [e.slice(0, at), e.slice(at + 1)] as const;
  });
  return {
    from: one('from'),
    listen,
    runtimeConfigFile: one('runtime-config-file') ?? (env.RUNTIME_CONFIG_FILE || undefined),
    env: envPairs,
    variables: got.variable ?? [],
    ignored,
    help,
    rest,
  };
}

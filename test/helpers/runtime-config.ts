/**
 * The `RuntimeConfig` of a runtime a test starts in its own process (`new Runtime(config, logger)`): no listener
 * unless given, one instance per component, a short grace period and fast polling; `fields` sets the rest.
 */
import { DEFAULTS, type RuntimeConfig } from '../../host/src/config.js';

export function testRuntimeConfig(fields: Pick<RuntimeConfig, 'appId' | 'resourcePaths' | 'dataDir'> & Partial<RuntimeConfig>): RuntimeConfig {
  return {
    appProtocol: 'http',
    appChannelAddress: '127.0.0.1',
    disableInitEndpoints: [],
    httpPort: 0,
    grpcPort: 0,
    listenAddresses: [],
    logLevel: 'silent',
    maxBodyBytes: DEFAULTS.maxBodyBytes,
    gracefulShutdownSeconds: 1,
    instances: 1,
    componentCallTimeoutMs: DEFAULTS.componentCallTimeoutMs,
    componentMemoryBytes: DEFAULTS.componentMemoryBytes,
    pollMs: 200,
    ...fields,
  };
}

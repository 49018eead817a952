/** The sidecar's metadata and this workload's identity (`mortar:app/metadata`). */
import * as wit from 'mortar:app/metadata@0.1.0';

export type SidecarMetadata = wit.SidecarMetadata;

/** The sidecar's metadata, as `GET /v1.0/metadata` reports it (components, subscriptions, ...). */
export function sidecarMetadata(): SidecarMetadata {
  return wit.get();
}

/** The app id this workload acts for: its state keys' prefix and its CloudEvents' `source`. */
export function appId(): string {
  return wit.appId();
}

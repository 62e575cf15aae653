// What the transport consumes, defined here by its consumer; config/ implements the providers
// from the user's files, tests pass plain functions.
export type { Dispatcher } from 'undici';

/** Per-registry connection settings (from `regctl config set`). */
export interface HostSettings {
  /** Use plain HTTP (loopback hosts get it without asking). */
  insecure?: boolean;
  /** PEM file with extra CA certificates trusted for this host (on top of the system CAs). */
  caFile?: string;
  /** Do not verify the server certificate. */
  skipVerify?: boolean;
}

/** What a credential source yields for one registry. Never logged. */
export interface Credential {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (Docker's `identitytoken`), exchanged at the token realm. */
  identityToken?: string;
  /** A ready bearer token (Docker's `registrytoken`). */
  registryToken?: string;
}

export type CredentialProvider = (registry: string) => Promise<Credential | undefined>;
export type SettingsProvider = (registry: string) => HostSettings | undefined;

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** First backoff delay; doubles per attempt (with jitter). */
  baseDelayMs: number;
  /** Cap on the computed backoff. */
  maxDelayMs: number;
  /** Cap on a server's Retry-After (a registry asking for an hour is not waited for). */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, baseDelayMs: 200, maxDelayMs: 5_000, maxRetryAfterMs: 30_000 };

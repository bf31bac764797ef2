/**
 * The AWS credential chain, as the AWS CLI and SDKs walk it, in order:
 *   1. environment: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
 *      (AWS_CREDENTIAL_EXPIRATION optional);
 *   2. shared files: ~/.aws/credentials then ~/.aws/config (AWS_SHARED_CREDENTIALS_FILE,
 *      AWS_CONFIG_FILE), profile `config.profile` ?? AWS_PROFILE ?? "default";
 *   3. EC2 instance metadata, IMDSv2 only (AWS_EC2_METADATA_SERVICE_ENDPOINT,
 *      AWS_EC2_METADATA_DISABLED=true), 1 s timeouts so a host off EC2 fails fast.
 * The first source that yields keys wins; when none does, the error names every source and why
 * it gave nothing.
 *
 * Caching: credentials without an expiry (env, files) are kept for the life of the process.
 * Expiring ones (instance metadata) are refreshed `refreshBeforeMs` (5 min) before they expire;
 * if that refresh fails, the old ones are used until they really expire. Concurrent callers
 * share one resolution, and a failed resolution is remembered for `retryIntervalMs` so a burst
 * of requests does not walk the chain (and wait on the metadata timeout) once per request.
 * Time comes from the injected Clock (wall time, since Expiration is a wall-clock instant).
 */
import { homedir } from "node:os";
import type { Clock, Logger } from "../../agent/core/deps";
import { err, ok, type Result } from "../../agent/core/result";
import { nonEmpty, readEnvCredentials } from "./aws-env-credentials";
import { fetchImdsCredentials, imdsSettings } from "./aws-imds-credentials";
import { nodeReadTextFile, readSharedFileCredentials, sharedFilePaths, type ReadTextFile } from "./aws-shared-files";

export type CredentialSource = "env" | "shared-files" | "imds";

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Wall-clock ms when AWS stops accepting them; absent = does not expire. */
  expiresAtMs?: number;
  /** Where they came from (logs, /healthz). */
  source: CredentialSource;
}

export interface CredentialError {
  code: "AWS_CREDENTIALS_UNAVAILABLE";
  /** One sentence naming every source tried and why each gave nothing. */
  message: string;
  tried: { source: CredentialSource; reason: string }[];
}

export type CredentialProvider = () => Promise<Result<AwsCredentials, CredentialError>>;

export type Env = Readonly<Record<string, string | undefined>>;

export interface AwsCredentialChainConfig {
  /** Profile in the shared files. Default: AWS_PROFILE, else "default". */
  profile?: string;
  /** Timeout of each instance-metadata request. Default 1000. */
  imdsTimeoutMs?: number;
  /** Refresh expiring credentials this long before they expire. Default 5 min. */
  refreshBeforeMs?: number;
  /** Least time between two resolutions; also how long a failure is remembered. Default 10 s. */
  retryIntervalMs?: number;
}

export interface AwsCredentialDeps {
  clock: Clock;
  log: Logger;
  fetch: typeof fetch;
  /** The process environment (main passes process.env; tests pass their own). */
  env: Env;
  /** Default: node:fs/promises. */
  readTextFile?: ReadTextFile;
  /** Used when env has no HOME / USERPROFILE. Default os.homedir(). */
  homeDir?: string;
}

export const DEFAULT_IMDS_TIMEOUT_MS = 1000;
export const DEFAULT_REFRESH_BEFORE_MS = 5 * 60_000;
export const DEFAULT_RETRY_INTERVAL_MS = 10_000;

interface Cached {
  credentials: AwsCredentials;
  /** Wall-clock ms after which the next call resolves again. */
  refreshAtMs: number;
}

export function createAwsCredentialChain(config: AwsCredentialChainConfig, deps: AwsCredentialDeps): CredentialProvider {
  const refreshBeforeMs = config.refreshBeforeMs ?? DEFAULT_REFRESH_BEFORE_MS;
  const retryIntervalMs = config.retryIntervalMs ?? DEFAULT_RETRY_INTERVAL_MS;
  let cached: Cached | undefined;
  let lastFailure: { atMs: number; error: CredentialError } | undefined;
  let inFlight: Promise<Result<AwsCredentials, CredentialError>> | undefined;

  const isUsable = (c: AwsCredentials, nowMs: number) => c.expiresAtMs === undefined || nowMs < c.expiresAtMs;

  async function refresh(): Promise<Result<AwsCredentials, CredentialError>> {
    const resolved = await resolveCredentialChain(config, deps);
    const nowMs = deps.clock.nowMs();
    if (resolved.ok) {
      const c = resolved.value;
      const refreshAtMs = c.expiresAtMs === undefined ? Infinity : Math.max(c.expiresAtMs - refreshBeforeMs, nowMs + retryIntervalMs);
      if (cached === undefined || cached.credentials.source !== c.source) {
        deps.log.info("Using AWS credentials.", { source: c.source, expires: c.expiresAtMs === undefined ? "never" : new Date(c.expiresAtMs).toISOString() });
      }
      cached = { credentials: c, refreshAtMs };
      lastFailure = undefined;
      return resolved;
    }
    lastFailure = { atMs: nowMs, error: resolved.error };
    if (cached !== undefined && isUsable(cached.credentials, nowMs)) {
      deps.log.warn("Kept AWS credentials after a failed refresh.", { source: cached.credentials.source, reason: resolved.error.message });
      return ok(cached.credentials);
    }
    deps.log.error("No AWS credentials.", { reason: resolved.error.message });
    return resolved;
  }

  return async () => {
    const nowMs = deps.clock.nowMs();
    if (cached !== undefined && nowMs < cached.refreshAtMs) return ok(cached.credentials);
    if (lastFailure !== undefined && nowMs < lastFailure.atMs + retryIntervalMs) {
      return cached !== undefined && isUsable(cached.credentials, nowMs) ? ok(cached.credentials) : err(lastFailure.error);
    }
    inFlight ??= refresh().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}

/** Walks the chain once, without caching. */
export async function resolveCredentialChain(config: AwsCredentialChainConfig, deps: AwsCredentialDeps): Promise<Result<AwsCredentials, CredentialError>> {
  const tried: CredentialError["tried"] = [];

  const fromEnv = readEnvCredentials(deps.env);
  if (fromEnv.ok) return fromEnv;
  tried.push({ source: "env", reason: fromEnv.error });

  const profile = config.profile ?? nonEmpty(deps.env.AWS_PROFILE) ?? "default";
  const home = nonEmpty(deps.env.HOME) ?? nonEmpty(deps.env.USERPROFILE) ?? deps.homeDir ?? homedir();
  const paths = sharedFilePaths(deps.env, home);
  const fromFiles = await readSharedFileCredentials({ profile, ...paths }, deps.readTextFile ?? nodeReadTextFile);
  if (fromFiles.ok) return fromFiles;
  tried.push({ source: "shared-files", reason: fromFiles.error });

  const imds = imdsSettings(deps.env, config.imdsTimeoutMs ?? DEFAULT_IMDS_TIMEOUT_MS);
  const fromImds = imds.ok ? await fetchImdsCredentials(imds.value, deps) : imds;
  if (fromImds.ok) return fromImds;
  tried.push({ source: "imds", reason: fromImds.error });

  const message = "No AWS credentials found. Tried " + tried.map((t) => `${SOURCE_NAMES[t.source]}: ${t.reason}`).join("; ") + ".";
  return err({ code: "AWS_CREDENTIALS_UNAVAILABLE", message, tried });
}

const SOURCE_NAMES: Record<CredentialSource, string> = {
  env: "environment",
  "shared-files": "shared files",
  imds: "EC2 instance metadata",
};

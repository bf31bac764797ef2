/**
 * One upstream's `sigv4` block → the `authorize(request)` hook the remote-write sink calls
 * (hub/forward's `Authorize`): the AWS credential chain + the SigV4 signer, resolving to the
 * headers to add.
 *
 * The hook's contract is "a rejection counts as a failed send" (agent/sinks/remote-write), so
 * this is the one place where a Result becomes a rejected promise: an Error whose message says
 * what is missing (e.g. the chain's "No AWS credentials found. Tried …") and whose `code` is the
 * SigV4Error code. The sink keeps the record queued and retries with backoff.
 */
import type { Clock, Logger } from "../../agent/core/deps";
import { err, ok, type Result } from "../../agent/core/result";
import { createAwsCredentialChain, type Env } from "./aws-credentials";
import type { ReadTextFile } from "./aws-shared-files";
import { createSigV4Signer, DEFAULT_SIGV4_SERVICE, type RequestToSign } from "./sigv4";

export interface AwsAuthConfig {
  /** AWS region of the endpoint, e.g. "eu-west-1". */
  region: string;
  /** SigV4 signing name. Default "aps". */
  service?: string;
  /** Shared-files profile. Default AWS_PROFILE, else "default". */
  profile?: string;
  /** Timeout of each instance-metadata request. Default 1000. */
  imdsTimeoutMs?: number;
}

export interface AwsAuthDeps {
  clock: Clock;
  log: Logger;
  fetch: typeof fetch;
  env: Env;
  readTextFile?: ReadTextFile;
}

export type Authorize = (request: RequestToSign) => Promise<Record<string, string>>;

export class SigV4SignError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "SigV4SignError";
  }
}

export function createAwsAuthorizer(config: AwsAuthConfig, deps: AwsAuthDeps): Result<Authorize, string> {
  const checked = checkAwsAuthConfig(config);
  if (!checked.ok) return checked;
  const credentials = createAwsCredentialChain({ profile: config.profile, imdsTimeoutMs: config.imdsTimeoutMs }, deps);
  const sign = createSigV4Signer({ region: config.region, service: config.service ?? DEFAULT_SIGV4_SERVICE, credentials }, { clock: deps.clock });
  return ok(async (request) => {
    const signed = await sign(request);
    if (!signed.ok) throw new SigV4SignError(signed.error.code, signed.error.message);
    return signed.value;
  });
}

const REGION = /^[a-z]{2,}(-[a-z]+)+-\d+$/; // eu-west-1, us-gov-west-1, eusc-de-east-1
const SERVICE = /^[a-z0-9-]+$/;

export function checkAwsAuthConfig(config: AwsAuthConfig): Result<void, string> {
  if (typeof config.region !== "string" || !REGION.test(config.region)) {
    return err(`sigv4.region must be an AWS region such as "eu-west-1" (got ${JSON.stringify(config.region)})`);
  }
  if (config.service !== undefined && (typeof config.service !== "string" || !SERVICE.test(config.service))) {
    return err(`sigv4.service must be a SigV4 signing name such as "aps" (got ${JSON.stringify(config.service)})`);
  }
  if (config.profile !== undefined && (typeof config.profile !== "string" || config.profile.trim() === "")) {
    return err(`sigv4.profile must be a non-empty profile name (got ${JSON.stringify(config.profile)})`);
  }
  if (config.imdsTimeoutMs !== undefined && (!Number.isInteger(config.imdsTimeoutMs) || config.imdsTimeoutMs <= 0)) {
    return err(`sigv4.imdsTimeoutMs must be an integer > 0 (got ${config.imdsTimeoutMs})`);
  }
  return ok(undefined);
}

/**
 * Credentials from the environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, with
 * AWS_SESSION_TOKEN for temporary keys and AWS_CREDENTIAL_EXPIRATION (ISO 8601) when the
 * process that set them knows when they end. Empty values count as unset.
 */
import { err, ok, type Result } from "../../agent/core/result";
import type { AwsCredentials, Env } from "./aws-credentials";

/** The credentials, or why the environment has none (one clause, for the chain's error). */
export function readEnvCredentials(env: Env): Result<AwsCredentials, string> {
  const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  if (accessKeyId === undefined && secretAccessKey === undefined) return err("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
  if (accessKeyId === undefined) return err("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  if (secretAccessKey === undefined) return err("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  const credentials: AwsCredentials = { accessKeyId, secretAccessKey, source: "env" };
  const sessionToken = nonEmpty(env.AWS_SESSION_TOKEN);
  if (sessionToken !== undefined) credentials.sessionToken = sessionToken;
  const expiration = nonEmpty(env.AWS_CREDENTIAL_EXPIRATION);
  if (expiration !== undefined) {
    const expiresAtMs = Date.parse(expiration);
    if (Number.isNaN(expiresAtMs)) return err(`AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time (got ${JSON.stringify(expiration)})`);
    credentials.expiresAtMs = expiresAtMs;
  }
  return ok(credentials);
}

export function nonEmpty(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed;
}

/**
 * Credentials of the instance's IAM role from EC2 instance metadata, IMDSv2 only:
 *   PUT  /latest/api/token                                 X-aws-ec2-metadata-token-ttl-seconds: 21600
 *   GET  /latest/meta-data/iam/security-credentials/       X-aws-ec2-metadata-token: <token>  → role name
 *   GET  /latest/meta-data/iam/security-credentials/<role> X-aws-ec2-metadata-token: <token>
 *        → {"Code":"Success","AccessKeyId","SecretAccessKey","Token","Expiration":"…Z"}
 * Every request has its own short timeout (1 s) so a host off EC2, where 169.254.169.254 goes
 * nowhere, fails fast. No IMDSv1 fallback: a token is always required.
 * Endpoint: AWS_EC2_METADATA_SERVICE_ENDPOINT, else AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE
 * (IPv4 → http://169.254.169.254, IPv6 → http://[fd00:ec2::254]); AWS_EC2_METADATA_DISABLED=true
 * turns the source off.
 */
import { err, ok, type Result } from "../../agent/core/result";
import type { AwsCredentials, Env } from "./aws-credentials";
import { nonEmpty } from "./aws-env-credentials";

export const IMDS_IPV4_ENDPOINT = "http://169.254.169.254";
export const IMDS_IPV6_ENDPOINT = "http://[fd00:ec2::254]";
export const IMDS_TOKEN_TTL_SEC = 21_600;
const TOKEN_PATH = "/latest/api/token";
const ROLE_PATH = "/latest/meta-data/iam/security-credentials/";

export interface ImdsSettings {
  /** Base URL without a trailing slash. */
  endpoint: string;
  timeoutMs: number;
}

/** Where to ask, or why not to (one clause, for the chain's error). */
export function imdsSettings(env: Env, timeoutMs: number): Result<ImdsSettings, string> {
  if (nonEmpty(env.AWS_EC2_METADATA_DISABLED)?.toLowerCase() === "true") return err("disabled by AWS_EC2_METADATA_DISABLED=true");
  const configured = nonEmpty(env.AWS_EC2_METADATA_SERVICE_ENDPOINT);
  if (configured !== undefined) {
    if (!/^https?:\/\/[^/]/.test(configured)) return err(`AWS_EC2_METADATA_SERVICE_ENDPOINT must be an http(s) URL (got ${JSON.stringify(configured)})`);
    return ok({ endpoint: configured.replace(/\/+$/, ""), timeoutMs });
  }
  const mode = nonEmpty(env.AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE)?.toLowerCase() ?? "ipv4";
  if (mode !== "ipv4" && mode !== "ipv6") return err(`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6 (got ${JSON.stringify(mode)})`);
  return ok({ endpoint: mode === "ipv6" ? IMDS_IPV6_ENDPOINT : IMDS_IPV4_ENDPOINT, timeoutMs });
}

export async function fetchImdsCredentials(settings: ImdsSettings, deps: { fetch: typeof fetch }): Promise<Result<AwsCredentials, string>> {
  const call = (method: "PUT" | "GET", path: string, headers: Record<string, string>) => callImds(settings, deps.fetch, method, path, headers);

  const token = await call("PUT", TOKEN_PATH, { "x-aws-ec2-metadata-token-ttl-seconds": String(IMDS_TOKEN_TTL_SEC) });
  if (!token.ok) return token;
  const auth = { "x-aws-ec2-metadata-token": token.value.trim() };

  const roles = await call("GET", ROLE_PATH, auth);
  if (!roles.ok) return roles;
  const role = roles.value.split("\n")[0]?.trim() ?? "";
  if (role === "") return err(`${settings.endpoint}: the instance has no IAM role (GET ${ROLE_PATH} is empty)`);

  const document = await call("GET", ROLE_PATH + encodeURIComponent(role), auth);
  if (!document.ok) return document;
  return parseRoleCredentials(document.value, `${settings.endpoint}${ROLE_PATH}${role}`);
}

/** The body of a 200 answer, or what went wrong with the request. */
async function callImds(
  settings: ImdsSettings,
  doFetch: typeof fetch,
  method: "PUT" | "GET",
  path: string,
  headers: Record<string, string>,
): Promise<Result<string, string>> {
  const what = `${method} ${settings.endpoint}${path}`;
  try {
    const response = await doFetch(settings.endpoint + path, { method, headers, signal: AbortSignal.timeout(settings.timeoutMs) });
    const body = await response.text();
    if (response.status !== 200) return err(`${what} answered ${response.status}${statusHint(response.status)}`);
    return ok(body);
  } catch (e) {
    const name = (e as Error).name;
    if (name === "TimeoutError" || name === "AbortError") return err(`${what} timed out after ${settings.timeoutMs} ms (not on EC2?)`);
    return err(`${what} failed (${describeFetchError(e)})`);
  }
}

function statusHint(status: number): string {
  if (status === 401) return " (token rejected)";
  if (status === 403) return " (instance metadata access is turned off for this instance)";
  if (status === 404) return " (no such path: no IAM role on this instance?)";
  return "";
}

function describeFetchError(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e as Error).message ?? String(e);
}

function parseRoleCredentials(text: string, where: string): Result<AwsCredentials, string> {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return err(`${where} is not JSON`);
  }
  if (typeof doc !== "object" || doc === null) return err(`${where} is not a JSON object`);
  if (doc.Code !== undefined && doc.Code !== "Success") return err(`${where} says Code ${JSON.stringify(doc.Code)}`);
  const { AccessKeyId, SecretAccessKey, Token, Expiration } = doc;
  if (typeof AccessKeyId !== "string" || AccessKeyId === "" || typeof SecretAccessKey !== "string" || SecretAccessKey === "") {
    return err(`${where} has no AccessKeyId / SecretAccessKey`);
  }
  const credentials: AwsCredentials = { accessKeyId: AccessKeyId, secretAccessKey: SecretAccessKey, source: "imds" };
  if (typeof Token === "string" && Token !== "") credentials.sessionToken = Token;
  if (Expiration !== undefined) {
    const expiresAtMs = typeof Expiration === "string" ? Date.parse(Expiration) : NaN;
    if (Number.isNaN(expiresAtMs)) return err(`${where} has an Expiration that is not a time (got ${JSON.stringify(Expiration)})`);
    credentials.expiresAtMs = expiresAtMs;
  }
  return ok(credentials);
}

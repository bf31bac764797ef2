/**
 * AWS Signature Version 4 for the hub's upstream requests (AMP remote write: service "aps").
 *
 * The algorithm itself is @smithy/signature-v4 (the AWS SDK's signer); this file decides what
 * goes into it, which is where signers usually go wrong:
 *   - the path is the one fetch() will put on the wire (WHATWG-serialised, so already
 *     percent-encoded); smithy normalises it and encodes it once more, the double encoding AWS
 *     uses for every service but S3 (S3 gets the wire path as it is);
 *   - query names and values are decoded from the URL ("+" stays "+") and re-encoded by smithy;
 *   - `host` is always signed, from the URL (port included when not the default);
 *   - the payload hash is always the SHA-256 of the exact body bytes, never UNSIGNED-PAYLOAD; the
 *     `x-amz-content-sha256` header that carries it is added only for the services that want it
 *     (S3, Glacier), as the AWS SDKs do;
 *   - `x-amz-security-token` is added and signed when the credentials carry a session token;
 *   - the signing time comes from the injected Clock.
 * Credentials come from a CredentialProvider (aws-credentials.ts), asked on every request: it
 * answers from its cache, so that costs nothing until a refresh is due.
 */
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import type { Clock } from "../../agent/core/deps";
import { err, ok, type Result } from "../../agent/core/result";
import type { AwsCredentials, CredentialError, CredentialProvider } from "./aws-credentials";

export const DEFAULT_SIGV4_SERVICE = "aps";

export interface SigV4Config {
  /** AWS region of the endpoint, e.g. "eu-west-1". */
  region: string;
  /** Signing name of the service. Default "aps" (Amazon Managed Service for Prometheus). */
  service?: string;
  credentials: CredentialProvider;
  /**
   * Header names that are sent but left out of the signature (besides smithy's own list:
   * user-agent, connection, expect, transfer-encoding, proxy-*, sec-*, …). Default none.
   */
  unsignedHeaders?: readonly string[];
}

/** The SHA-256 smithy calls: `new Sha256()` hashes, `new Sha256(key)` is an HMAC. */
export interface Sha256Hash {
  update(data: Uint8Array | string): void;
  digest(): Promise<Uint8Array>;
}
export type Sha256Constructor = new (secret?: Uint8Array | string) => Sha256Hash;

export interface SigV4Deps {
  clock: Clock;
  /** Default: node:crypto through @smithy/hash-node (native in Node and in Bun). */
  sha256?: Sha256Constructor;
}

export interface RequestToSign {
  /** The exact URL that will be fetched. */
  url: string;
  method: string;
  /** Headers that will be sent (besides the ones the signer returns). */
  headers: Record<string, string>;
  /** The exact body bytes that will be sent. */
  body: Uint8Array;
}

/** A request taken apart the way the signer sees it; `path` is the path as sent on the wire. */
export interface RequestParts {
  method: string;
  hostname: string;
  port?: number;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
  body: Uint8Array;
}

export type SigV4Error =
  | { code: "SIGV4_BAD_URL"; message: string }
  | { code: "SIGV4_NO_CREDENTIALS"; message: string; cause: CredentialError };

/** Resolves to the headers to add to the request (lower-case names), or why it can't be signed. */
export type SignRequest = (req: RequestToSign) => Promise<Result<Record<string, string>, SigV4Error>>;
/** Resolves to every header of the signed request (lower-case names). */
export type SignRequestParts = (parts: RequestParts) => Promise<Result<Record<string, string>, SigV4Error>>;

/** Services whose requests carry the payload hash in `x-amz-content-sha256` (AWS SDK for Go's list). */
const PAYLOAD_HASH_HEADER_SERVICES = new Set(["s3", "s3-object-lambda", "s3-outposts", "glacier"]);
/** Services that sign the wire path as it is: no normalisation, no second encoding. */
const SINGLE_ENCODED_PATH_SERVICES = new Set(["s3", "s3-object-lambda", "s3-outposts"]);

export function createSigV4Signer(config: SigV4Config, deps: SigV4Deps): SignRequest {
  const signParts = createSigV4PartsSigner(config, deps);
  let lastUrl = "";
  let lastParsed: Result<UrlParts, SigV4Error> | undefined;
  return async (req) => {
    // The upstream URL rarely changes: parse it once.
    if (req.url !== lastUrl || lastParsed === undefined) {
      lastParsed = parseSignableUrl(req.url);
      lastUrl = req.url;
    }
    if (!lastParsed.ok) return lastParsed;
    const url = lastParsed.value;
    const given = lowerCaseHeaders(req.headers);
    const parts: RequestParts = { ...url, method: req.method, headers: { ...given, host: url.host }, body: req.body };
    const signed = await signParts(parts);
    if (!signed.ok) return signed;
    return ok(headersAddedTo(given, signed.value));
  };
}

/** The signer below the URL: for callers (and the AWS test suite) that hold the parts already. */
export function createSigV4PartsSigner(config: SigV4Config, deps: SigV4Deps): SignRequestParts {
  const service = config.service ?? DEFAULT_SIGV4_SERVICE;
  const sha256 = deps.sha256 ?? (Hash.bind(null, "sha256") as unknown as Sha256Constructor);
  const unsignableHeaders = config.unsignedHeaders?.length ? new Set(config.unsignedHeaders.map((h) => h.toLowerCase())) : undefined;
  // One smithy signer per credentials object: the provider hands out the same object until it
  // refreshes, and smithy's own signing-key cache makes a new signer cheap when it does.
  let signerCredentials: AwsCredentials | undefined;
  let signer: SignatureV4 | undefined;
  const signerFor = (credentials: AwsCredentials): SignatureV4 => {
    if (signer === undefined || signerCredentials !== credentials) {
      signer = new SignatureV4({
        service,
        region: config.region,
        sha256: sha256 as unknown as ConstructorParameters<typeof SignatureV4>[0]["sha256"],
        credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken },
        applyChecksum: PAYLOAD_HASH_HEADER_SERVICES.has(service),
        uriEscapePath: !SINGLE_ENCODED_PATH_SERVICES.has(service),
      });
      signerCredentials = credentials;
    }
    return signer;
  };

  return async (parts) => {
    const credentials = await config.credentials();
    if (!credentials.ok) {
      return err({ code: "SIGV4_NO_CREDENTIALS", message: `Cannot sign for ${service}: ${credentials.error.message}`, cause: credentials.error });
    }
    const request = {
      method: parts.method.toUpperCase(),
      protocol: "https:",
      hostname: parts.hostname,
      port: parts.port,
      path: parts.path,
      query: parts.query,
      headers: lowerCaseHeaders(parts.headers),
      body: parts.body,
    };
    const signed = await signerFor(credentials.value).sign(request, {
      signingDate: new Date(deps.clock.nowMs()),
      unsignableHeaders,
    });
    return ok(signed.headers as Record<string, string>);
  };
}

interface UrlParts {
  host: string;
  hostname: string;
  port?: number;
  path: string;
  query: Record<string, string | string[]>;
}

/** Splits a URL the way fetch() will send it. */
export function parseSignableUrl(url: string): Result<UrlParts, SigV4Error> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return err({ code: "SIGV4_BAD_URL", message: `upstream URL is not a valid URL (got ${JSON.stringify(url)})` });
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    return err({ code: "SIGV4_BAD_URL", message: `upstream URL must be http(s) (got ${JSON.stringify(url)})` });
  }
  return ok({
    host: parsed.host,
    hostname: parsed.hostname,
    port: parsed.port === "" ? undefined : Number(parsed.port),
    path: parsed.pathname === "" ? "/" : parsed.pathname,
    query: parseQuery(parsed.search),
  });
}

/**
 * `?a=1&b&a=2` → { a: ["1", "2"], b: "" }. Names and values are percent-decoded; "+" is a plus,
 * not a space (SigV4 encodes it as %2B). A key without "=" signs as "key=".
 */
export function parseQuery(search: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  const text = search.startsWith("?") ? search.slice(1) : search;
  if (text === "") return query;
  for (const pair of text.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = decodeComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? "" : decodeComponent(pair.slice(eq + 1));
    const seen = query[name];
    if (seen === undefined) query[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else query[name] = [seen, value];
  }
  return query;
}

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a stray "%" is sent as it is, so it is signed as it is
  }
}

/** Lower-case names; two spellings of one name become one comma-joined value, as HTTP merges them. */
function lowerCaseHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    const lower = name.toLowerCase();
    const value = headers[name];
    out[lower] = lower in out ? `${out[lower]},${value}` : value;
  }
  return out;
}

function headersAddedTo(given: Record<string, string>, signed: Record<string, string>): Record<string, string> {
  const added: Record<string, string> = {};
  for (const name in signed) if (given[name] !== signed[name]) added[name] = signed[name];
  return added;
}

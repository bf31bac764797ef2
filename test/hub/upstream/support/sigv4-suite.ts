/**
 * Reads the AWS SigV4 test suite kept in ../testdata/sigv4 (one folder per case holding
 * <case>.req, .creq, .sts, .authz, .sreq; see the README there) and records what smithy hashes,
 * so a test can compare the canonical request and the string to sign, not only the signature.
 */
import { Hash } from "@smithy/hash-node";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { Sha256Constructor, Sha256Hash } from "../../../../hub/upstream/sigv4";

export const SUITE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "testdata", "sigv4");
export const SUITE_CREDENTIALS = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
export const SUITE_REGION = "us-east-1";
export const SUITE_SERVICE = "service";
export const SUITE_TIME_MS = Date.parse("2015-08-30T12:36:00Z");
/** The session token of the post-sts-token cases: the last line of their readme.txt. */
export const SUITE_SESSION_TOKEN = readFileSync(join(SUITE_DIR, "post-sts-token", "readme.txt"), "utf8").trim().split("\n").pop() ?? "";

/** An HTTP/1.1 request as the suite writes it (header names lower-cased). */
export interface SuiteRequest {
  method: string;
  /** Path and query exactly as on the request line (may hold a space or UTF-8). */
  target: string;
  host: string;
  /** Every header but Host; repeated and folded lines joined with "," as the suite canonicalises them. */
  headers: Record<string, string>;
  body: string;
}

export interface SuiteVector {
  /** e.g. "normalize-path/get-space". */
  id: string;
  name: string;
  req: SuiteRequest;
  creq?: string;
  sts?: string;
  authz: string;
  sreq: SuiteRequest;
}

export function loadSuite(dir = SUITE_DIR): SuiteVector[] {
  const out: SuiteVector[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (!statSync(path).isDirectory()) continue;
    const req = join(path, `${entry}.req`);
    if (statSync(req, { throwIfNoEntry: false })?.isFile()) out.push(loadVector(path, entry));
    else out.push(...loadSuite(path));
  }
  return out;
}

function loadVector(dir: string, name: string): SuiteVector {
  const read = (ext: string) => readFileSync(join(dir, `${name}.${ext}`), "utf8");
  const readOptional = (ext: string) => (statSync(join(dir, `${name}.${ext}`), { throwIfNoEntry: false }) ? read(ext) : undefined);
  return {
    id: relative(SUITE_DIR, dir),
    name,
    req: parseSuiteRequest(read("req")),
    creq: readOptional("creq"),
    sts: readOptional("sts"),
    authz: read("authz"),
    sreq: parseSuiteRequest(read("sreq")),
  };
}

export function parseSuiteRequest(text: string): SuiteRequest {
  const lines = text.split("\n");
  const requestLine = /^(\S+) (.*) HTTP\/1\.1$/.exec(lines[0]);
  if (requestLine === null) throw new Error(`BUG: not a request line: ${lines[0]}`);
  const headers: Record<string, string> = {};
  let last = "";
  let i = 1;
  for (; i < lines.length && lines[i] !== ""; i++) {
    const line = lines[i];
    if (/^\s/.test(line)) {
      headers[last] += "," + line.trim(); // a folded line is one more value of the header above
      continue;
    }
    const colon = line.indexOf(":");
    last = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[last] = last in headers ? `${headers[last]},${value}` : value;
  }
  const { host = "", ...rest } = headers;
  return { method: requestLine[1], target: requestLine[2], host, headers: rest, body: lines.slice(i + 1).join("\n") };
}

/** What one signing hashed: plain SHA-256 inputs (payload, canonical request) and HMAC inputs. */
export interface HashRecord {
  hashed: string[];
  hmaced: string[];
  /** The canonical request: the last plain SHA-256 input. */
  canonicalRequest(): string;
  /** The string to sign: the last HMAC input. */
  stringToSign(): string;
}

export function recordingSha256(): { sha256: Sha256Constructor; record: HashRecord } {
  const record: HashRecord = {
    hashed: [],
    hmaced: [],
    canonicalRequest: () => record.hashed[record.hashed.length - 1] ?? "",
    stringToSign: () => record.hmaced[record.hmaced.length - 1] ?? "",
  };
  const decoder = new TextDecoder();
  class RecordingSha256 implements Sha256Hash {
    private readonly inner: Hash;
    private readonly into: string[];
    private text = "";
    constructor(secret?: Uint8Array | string) {
      this.inner = new Hash("sha256", secret);
      this.into = secret === undefined ? record.hashed : record.hmaced;
    }
    update(data: Uint8Array | string): void {
      this.text += typeof data === "string" ? data : decoder.decode(data);
      this.inner.update(data);
    }
    digest(): Promise<Uint8Array> {
      this.into.push(this.text);
      return this.inner.digest();
    }
  }
  return { sha256: RecordingSha256, record };
}

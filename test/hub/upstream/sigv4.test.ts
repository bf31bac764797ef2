import { createHash, createHmac } from "node:crypto";
import { describe, expect, test } from "vitest";
import { fakeClock } from "../../../agent/core/deps";
import { err, ok } from "../../../agent/core/result";
import type { AwsCredentials, CredentialProvider } from "../../../hub/upstream/aws-credentials";
import { createSigV4Signer, parseQuery, type SigV4Config } from "../../../hub/upstream/sigv4";
import { recordingSha256 } from "./support/sigv4-suite";

const NOW_MS = Date.parse("2026-03-01T10:20:30Z");
const AMP_URL = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-0123abcd-4567-89ef/api/v1/remote_write";
const KEYS: AwsCredentials = { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "secret/example+key", source: "env" };
const SESSION: AwsCredentials = { ...KEYS, accessKeyId: "ASIAEXAMPLE", sessionToken: "FwoGZXIvYXdzEXAMPLE//token==", source: "imds" };
const PRW_HEADERS = {
  "Content-Encoding": "snappy",
  "Content-Type": "application/x-protobuf",
  "X-Prometheus-Remote-Write-Version": "0.1.0",
  "User-Agent": "edge-hub/0.1.0",
};
const BODY = new Uint8Array([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59, 0x01, 0x02, 0x03]);

const hex = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");
const staticCredentials = (c: AwsCredentials): CredentialProvider => async () => ok(c);

function signerWith(config: Partial<SigV4Config> & { credentials?: CredentialProvider } = {}) {
  const { sha256, record } = recordingSha256();
  const sign = createSigV4Signer({ region: "eu-west-1", credentials: staticCredentials(KEYS), ...config }, { clock: fakeClock(NOW_MS), sha256 });
  return { sign, record };
}

async function signedHeaders(result: ReturnType<ReturnType<typeof signerWith>["sign"]>): Promise<Record<string, string>> {
  const r = await result;
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

/** SigV4 from scratch (PROTOCOLS.md §6), independent of smithy. */
function referenceAuthorization(o: { credentials: AwsCredentials; region: string; service: string; method: string; path: string; headers: Record<string, string>; body: Uint8Array; amzDate: string }): string {
  const names = Object.keys(o.headers).sort();
  const canonical = [o.method, o.path, "", ...names.map((n) => `${n}:${o.headers[n].trim()}`), "", names.join(";"), hex(o.body)].join("\n");
  const date = o.amzDate.slice(0, 8);
  const scope = `${date}/${o.region}/${o.service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", o.amzDate, scope, hex(canonical)].join("\n");
  let key: Buffer = Buffer.from(`AWS4${o.credentials.secretAccessKey}`);
  for (const part of [date, o.region, o.service, "aws4_request"]) key = createHmac("sha256", key).update(part).digest();
  const signature = createHmac("sha256", key).update(stringToSign).digest("hex");
  return `AWS4-HMAC-SHA256 Credential=${o.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
}

describe("createSigV4Signer", () => {
  test("signs an AMP remote-write POST with the SHA-256 of the body and adds no x-amz-content-sha256", async () => {
    const { sign, record } = signerWith();
    const added = await signedHeaders(sign({ url: AMP_URL, method: "POST", headers: PRW_HEADERS, body: BODY }));
    expect(Object.keys(added).sort()).toEqual(["authorization", "host", "x-amz-date"]);
    expect(added.host).toBe("aps-workspaces.eu-west-1.amazonaws.com");
    expect(added["x-amz-date"]).toBe("20260301T102030Z");
    const canonical = record.canonicalRequest().split("\n");
    expect(canonical[0]).toBe("POST");
    expect(canonical[1]).toBe("/workspaces/ws-0123abcd-4567-89ef/api/v1/remote_write");
    expect(canonical.at(-1)).toBe(hex(BODY));
    expect(record.canonicalRequest()).not.toContain("UNSIGNED-PAYLOAD");
    expect(added.authorization).toContain("Credential=AKIAEXAMPLE/20260301/eu-west-1/aps/aws4_request, ");
  });

  test("matches a from-scratch SigV4 computation for an AMP request with a session token", async () => {
    const { sign } = signerWith({ credentials: staticCredentials(SESSION) });
    const added = await signedHeaders(sign({ url: AMP_URL, method: "POST", headers: PRW_HEADERS, body: BODY }));
    expect(added["x-amz-security-token"]).toBe(SESSION.sessionToken);
    const signed = {
      "content-encoding": "snappy",
      "content-type": "application/x-protobuf",
      host: "aps-workspaces.eu-west-1.amazonaws.com",
      "x-amz-date": "20260301T102030Z",
      "x-amz-security-token": SESSION.sessionToken!,
      "x-prometheus-remote-write-version": "0.1.0",
    };
    const expected = referenceAuthorization({ credentials: SESSION, region: "eu-west-1", service: "aps", method: "POST", path: new URL(AMP_URL).pathname, headers: signed, body: BODY, amzDate: "20260301T102030Z" });
    expect(added.authorization).toBe(expected);
    expect(added.authorization).toContain("SignedHeaders=content-encoding;content-type;host;x-amz-date;x-amz-security-token;x-prometheus-remote-write-version, ");
  });

  test("leaves user-agent out of the signature and does not return headers the caller already sends", async () => {
    const { sign } = signerWith();
    const added = await signedHeaders(sign({ url: AMP_URL, method: "POST", headers: PRW_HEADERS, body: BODY }));
    expect(added.authorization).not.toContain("user-agent");
    expect(added).not.toHaveProperty("content-type");
    expect(added).not.toHaveProperty("user-agent");
  });

  test("adds x-amz-content-sha256 for S3, which requires it", async () => {
    const { sign } = signerWith({ service: "s3" });
    const added = await signedHeaders(sign({ url: "https://bucket.s3.eu-west-1.amazonaws.com/key", method: "PUT", headers: {}, body: BODY }));
    expect(added["x-amz-content-sha256"]).toBe(hex(BODY));
    expect(added.authorization).toContain("SignedHeaders=host;x-amz-content-sha256;x-amz-date, ");
  });

  test("signs host with the port of a URL on a non-default port", async () => {
    const { sign, record } = signerWith();
    const added = await signedHeaders(sign({ url: "http://127.0.0.1:9090/api/v1/write", method: "POST", headers: {}, body: BODY }));
    expect(added.host).toBe("127.0.0.1:9090");
    expect(record.canonicalRequest()).toContain("\nhost:127.0.0.1:9090\n");
  });

  test("signs the time of the injected clock", async () => {
    const clock = fakeClock(NOW_MS);
    const sign = createSigV4Signer({ region: "eu-west-1", credentials: staticCredentials(KEYS) }, { clock });
    clock.advance(90 * 60_000);
    const added = await signedHeaders(sign({ url: AMP_URL, method: "POST", headers: {}, body: BODY }));
    expect(added["x-amz-date"]).toBe("20260301T115030Z");
  });

  test("encodes the already-encoded wire path once more, as AWS does for services other than S3", async () => {
    const { sign, record } = signerWith();
    await signedHeaders(sign({ url: "https://example.amazonaws.com/a b/%41/c:d", method: "GET", headers: {}, body: new Uint8Array() }));
    expect(record.canonicalRequest().split("\n")[1]).toBe("/a%2520b/%2541/c%3Ad");
  });

  test("sorts and re-encodes the query; a + stays a plus and a bare key signs as key=", async () => {
    const { sign, record } = signerWith();
    await signedHeaders(sign({ url: "https://example.amazonaws.com/?b=x+y&a=1&a=0&c&d=%2F%20", method: "GET", headers: {}, body: new Uint8Array() }));
    expect(record.canonicalRequest().split("\n")[2]).toBe("a=0&a=1&b=x%2By&c=&d=%2F%20");
    expect(parseQuery("?a=1&a=2&a=3")).toEqual({ a: ["1", "2", "3"] });
  });

  test("signs with the credentials the provider hands out now, after a refresh too", async () => {
    let current = KEYS;
    const { sign } = signerWith({ credentials: async () => ok(current) });
    const first = await signedHeaders(sign({ url: AMP_URL, method: "POST", headers: {}, body: BODY }));
    current = SESSION;
    const second = await signedHeaders(sign({ url: AMP_URL, method: "POST", headers: {}, body: BODY }));
    expect(first.authorization).toContain("Credential=AKIAEXAMPLE/");
    expect(second.authorization).toContain("Credential=ASIAEXAMPLE/");
    expect(second["x-amz-security-token"]).toBe(SESSION.sessionToken);
  });

  test("answers SIGV4_NO_CREDENTIALS with the chain's reason when there are no credentials", async () => {
    const cause = { code: "AWS_CREDENTIALS_UNAVAILABLE" as const, message: "No AWS credentials found. Tried environment: not set.", tried: [] };
    const { sign } = signerWith({ credentials: async () => err(cause) });
    const r = await sign({ url: AMP_URL, method: "POST", headers: {}, body: BODY });
    expect(r).toEqual({ ok: false, error: { code: "SIGV4_NO_CREDENTIALS", message: "Cannot sign for aps: No AWS credentials found. Tried environment: not set.", cause } });
  });

  test.each([
    ["not a url", 'upstream URL is not a valid URL (got "not a url")'],
    ["ftp://example.com/x", 'upstream URL must be http(s) (got "ftp://example.com/x")'],
  ])("answers SIGV4_BAD_URL for %s", async (url, message) => {
    const { sign } = signerWith();
    expect(await sign({ url, method: "GET", headers: {}, body: new Uint8Array() })).toEqual({ ok: false, error: { code: "SIGV4_BAD_URL", message } });
  });
});

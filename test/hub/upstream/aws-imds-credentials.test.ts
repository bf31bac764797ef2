/**
 * IMDSv2 against a real HTTP server on 127.0.0.1 (support/fake-imds.ts), and refresh before
 * Expiration through the chain with a fake clock.
 */
import { afterEach, describe, expect, test } from "vitest";
import { fakeClock, silentLogger } from "../../../agent/core/deps";
import { createAwsCredentialChain } from "../../../hub/upstream/aws-credentials";
import { fetchImdsCredentials, imdsSettings } from "../../../hub/upstream/aws-imds-credentials";
import { loopbackFetch, ROLE_PATH, startFakeImds, type FakeImds } from "./support/fake-imds";

const servers: FakeImds[] = [];
async function imds(options: Parameters<typeof startFakeImds>[0] = {}): Promise<FakeImds> {
  const server = await startFakeImds(options);
  servers.push(server);
  return server;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const T0 = Date.parse("2026-03-01T10:00:00Z");
const MIN = 60_000;

describe("fetchImdsCredentials", () => {
  test("asks for a token, then the role, then the role's credentials, sending the token", async () => {
    const server = await imds({
      document: () => ({ Code: "Success", LastUpdated: "2026-03-01T09:58:00Z", Type: "AWS-HMAC", AccessKeyId: "ASIAROLE", SecretAccessKey: "role-secret", Token: "role-token", Expiration: "2026-03-01T16:00:00Z" }),
    });
    const result = await fetchImdsCredentials({ endpoint: server.endpoint, timeoutMs: 1000 }, { fetch: loopbackFetch });
    expect(result).toEqual({
      ok: true,
      value: { accessKeyId: "ASIAROLE", secretAccessKey: "role-secret", sessionToken: "role-token", expiresAtMs: Date.parse("2026-03-01T16:00:00Z"), source: "imds" },
    });
    expect(server.log).toEqual(["PUT /latest/api/token 200", `GET ${ROLE_PATH} 200`, `GET ${ROLE_PATH}hub-role 200`]);
    expect(server.tokenTtlHeaders).toEqual(["21600"]);
  });

  test("the fake answers 401 to a metadata request without a token, as IMDSv2 does", async () => {
    const server = await imds();
    const response = await loopbackFetch(server.endpoint + ROLE_PATH);
    expect(response.status).toBe(401);
  });

  test("reports a rejected token", async () => {
    const server = await imds({ rejectTokens: true });
    const result = await fetchImdsCredentials({ endpoint: server.endpoint, timeoutMs: 1000 }, { fetch: loopbackFetch });
    expect(result).toEqual({ ok: false, error: `GET ${server.endpoint}${ROLE_PATH} answered 401 (token rejected)` });
  });

  test("reports an instance without an IAM role", async () => {
    const server = await imds({ role: null });
    const result = await fetchImdsCredentials({ endpoint: server.endpoint, timeoutMs: 1000 }, { fetch: loopbackFetch });
    expect(result).toEqual({ ok: false, error: `GET ${server.endpoint}${ROLE_PATH} answered 404 (no such path: no IAM role on this instance?)` });
  });

  test("reports a credentials document that is not a success", async () => {
    const server = await imds({ document: () => ({ Code: "AssumeRoleUnauthorizedAccess", Message: "denied" }) });
    const result = await fetchImdsCredentials({ endpoint: server.endpoint, timeoutMs: 1000 }, { fetch: loopbackFetch });
    expect(result).toEqual({ ok: false, error: `${server.endpoint}${ROLE_PATH}hub-role says Code "AssumeRoleUnauthorizedAccess"` });
  });

  test("gives up after the timeout when the service never answers", async () => {
    const server = await imds({ hang: true });
    const started = performance.now();
    const result = await fetchImdsCredentials({ endpoint: server.endpoint, timeoutMs: 150 }, { fetch: loopbackFetch });
    expect(result).toEqual({ ok: false, error: `PUT ${server.endpoint}/latest/api/token timed out after 150 ms (not on EC2?)` });
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test("reports a refused connection", async () => {
    const server = await imds();
    await server.close();
    const result = await fetchImdsCredentials({ endpoint: server.endpoint, timeoutMs: 1000 }, { fetch: loopbackFetch });
    expect(result).toEqual({ ok: false, error: `PUT ${server.endpoint}/latest/api/token failed (ECONNREFUSED)` });
  });
});

describe("imdsSettings", () => {
  test.each([
    [{}, { ok: true, value: { endpoint: "http://169.254.169.254", timeoutMs: 1000 } }],
    [{ AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: "IPv6" }, { ok: true, value: { endpoint: "http://[fd00:ec2::254]", timeoutMs: 1000 } }],
    [{ AWS_EC2_METADATA_SERVICE_ENDPOINT: "http://127.0.0.1:1338/" }, { ok: true, value: { endpoint: "http://127.0.0.1:1338", timeoutMs: 1000 } }],
    [{ AWS_EC2_METADATA_DISABLED: "TRUE" }, { ok: false, error: "disabled by AWS_EC2_METADATA_DISABLED=true" }],
    [{ AWS_EC2_METADATA_SERVICE_ENDPOINT: "169.254.169.254" }, { ok: false, error: 'AWS_EC2_METADATA_SERVICE_ENDPOINT must be an http(s) URL (got "169.254.169.254")' }],
    [{ AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: "ipv5" }, { ok: false, error: 'AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6 (got "ipv5")' }],
  ])("%j → %j", (env, expected) => {
    expect(imdsSettings(env, 1000)).toEqual(expected);
  });
});

describe("instance-metadata credentials in the chain", () => {
  /** Each document expires one hour after the fake clock's time when it was served. */
  async function chainWithExpiringRole() {
    const clock = fakeClock(T0);
    const server = await imds({
      document: (n) => ({ Code: "Success", AccessKeyId: `ASIA${n}`, SecretAccessKey: `secret-${n}`, Token: `token-${n}`, Expiration: new Date(clock.nowMs() + 60 * MIN).toISOString() }),
    });
    const env = { HOME: "/nonexistent-home", AWS_EC2_METADATA_SERVICE_ENDPOINT: server.endpoint };
    const provider = createAwsCredentialChain({}, { clock, log: silentLogger, fetch: loopbackFetch, env });
    const keyId = async () => {
      const r = await provider();
      if (!r.ok) throw new Error(r.error.message);
      return r.value.accessKeyId;
    };
    return { clock, server, provider, keyId, documents: () => server.count("GET", `${ROLE_PATH}hub-role`) };
  }

  test("caches the role credentials and refreshes them 5 minutes before Expiration", async () => {
    const { clock, keyId, documents } = await chainWithExpiringRole();
    expect(await keyId()).toBe("ASIA1");
    clock.advance(54 * MIN);
    expect(await keyId()).toBe("ASIA1");
    expect(documents()).toBe(1);
    clock.advance(1 * MIN); // 55 min: 5 min before Expiration
    expect(await keyId()).toBe("ASIA2");
    expect(documents()).toBe(2);
    clock.advance(30 * MIN);
    expect(await keyId()).toBe("ASIA2");
    expect(documents()).toBe(2);
  });

  test("concurrent callers share one metadata round trip", async () => {
    const { provider, server } = await chainWithExpiringRole();
    const results = await Promise.all(Array.from({ length: 8 }, () => provider()));
    expect(results.every((r) => r.ok && r.value.accessKeyId === "ASIA1")).toBe(true);
    expect(server.count("PUT", "/latest/api/token")).toBe(1);
  });

  test("keeps the old credentials when a refresh fails before they expire, and fails once they have", async () => {
    const clock = fakeClock(T0);
    let failing = false;
    const server = await imds({
      document: () => (failing ? { Code: "Failure" } : { Code: "Success", AccessKeyId: "ASIAOLD", SecretAccessKey: "s", Token: "t", Expiration: new Date(T0 + 60 * MIN).toISOString() }),
    });
    const env = { HOME: "/nonexistent-home", AWS_EC2_METADATA_SERVICE_ENDPOINT: server.endpoint };
    const provider = createAwsCredentialChain({ retryIntervalMs: 10_000 }, { clock, log: silentLogger, fetch: loopbackFetch, env });
    expect((await provider()).ok).toBe(true);
    failing = true;
    clock.advance(56 * MIN);
    const kept = await provider();
    expect(kept.ok && kept.value.accessKeyId).toBe("ASIAOLD");
    expect(server.count("GET", `${ROLE_PATH}hub-role`)).toBe(2);
    clock.advance(5 * 1000); // within retryIntervalMs: no new round trip
    expect((await provider()).ok).toBe(true);
    expect(server.count("GET", `${ROLE_PATH}hub-role`)).toBe(2);
    clock.advance(4 * MIN); // past Expiration
    const expired = await provider();
    expect(expired.ok).toBe(false);
    if (!expired.ok) expect(expired.error.message).toContain('says Code "Failure"');
  });
});

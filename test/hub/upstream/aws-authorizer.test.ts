import { afterEach, describe, expect, test } from "vitest";
import { fakeClock, silentLogger } from "../../../agent/core/deps";
import { createAwsAuthorizer, SigV4SignError } from "../../../hub/upstream/aws-authorizer";
import { loopbackFetch, startFakeImds, type FakeImds } from "./support/fake-imds";

const AMP_URL = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write";
const request = { url: AMP_URL, method: "POST", headers: { "content-type": "application/x-protobuf" }, body: new Uint8Array([1, 2, 3]) };
const deps = (env: Record<string, string>) => ({ clock: fakeClock(Date.parse("2026-03-01T10:00:00Z")), log: silentLogger, fetch: loopbackFetch, env });

const servers: FakeImds[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe("createAwsAuthorizer", () => {
  test("signs AMP requests with instance-role credentials, session token included", async () => {
    const server = await startFakeImds();
    servers.push(server);
    const authorizer = createAwsAuthorizer({ region: "eu-west-1" }, deps({ HOME: "/nonexistent-home", AWS_EC2_METADATA_SERVICE_ENDPOINT: server.endpoint }));
    if (!authorizer.ok) throw new Error(authorizer.error);
    const headers = await authorizer.value(request);
    expect(Object.keys(headers).sort()).toEqual(["authorization", "host", "x-amz-date", "x-amz-security-token"]);
    expect(headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=ASIA1\/20260301\/eu-west-1\/aps\/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/);
    expect(headers["x-amz-security-token"]).toBe("session-1");
  });

  test("rejects with the chain's reason when there are no credentials (the sink counts a failed send)", async () => {
    const authorizer = createAwsAuthorizer({ region: "eu-west-1" }, deps({ HOME: "/nonexistent-home", AWS_EC2_METADATA_DISABLED: "true" }));
    if (!authorizer.ok) throw new Error(authorizer.error);
    const rejection = authorizer.value(request);
    await expect(rejection).rejects.toBeInstanceOf(SigV4SignError);
    await expect(rejection).rejects.toMatchObject({ code: "SIGV4_NO_CREDENTIALS", message: expect.stringContaining("Cannot sign for aps: No AWS credentials found. Tried environment:") });
  });

  test.each(["eu-west-1", "us-gov-west-1", "ap-southeast-2", "eusc-de-east-1"])("accepts region %s", (region) => {
    expect(createAwsAuthorizer({ region }, deps({})).ok).toBe(true);
  });

  test.each([
    [{ region: "" }, 'sigv4.region must be an AWS region such as "eu-west-1" (got "")'],
    [{ region: "Europe" }, 'sigv4.region must be an AWS region such as "eu-west-1" (got "Europe")'],
    [{ region: "us-gov-west-1", service: "APS" }, 'sigv4.service must be a SigV4 signing name such as "aps" (got "APS")'],
    [{ region: "eu-west-1", profile: " " }, 'sigv4.profile must be a non-empty profile name (got " ")'],
    [{ region: "eu-west-1", imdsTimeoutMs: 0 }, "sigv4.imdsTimeoutMs must be an integer > 0 (got 0)"],
  ])("refuses config %j", (config, message) => {
    expect(createAwsAuthorizer(config, deps({}))).toEqual({ ok: false, error: message });
  });
});

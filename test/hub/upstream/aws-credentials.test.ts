import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { fakeClock, silentLogger, type Logger } from "../../../agent/core/deps";
import { createAwsCredentialChain, resolveCredentialChain, type AwsCredentialDeps } from "../../../hub/upstream/aws-credentials";
import { nodeReadTextFile, type ReadTextFile } from "../../../hub/upstream/aws-shared-files";
import { loopbackFetch, startFakeImds, type FakeImds } from "./support/fake-imds";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function homeWithProfile(keyId: string): string {
  const home = mkdtempSync(join(tmpdir(), "aws-home-"));
  cleanups.push(() => rmSync(home, { recursive: true, force: true }));
  mkdirSync(join(home, ".aws"));
  writeFileSync(join(home, ".aws", "credentials"), `[default]\naws_access_key_id = ${keyId}\naws_secret_access_key = file-secret\n`);
  return home;
}

async function imds(): Promise<FakeImds> {
  const server = await startFakeImds();
  cleanups.push(() => server.close());
  return server;
}

function countingReads(): { readTextFile: ReadTextFile; reads: string[] } {
  const reads: string[] = [];
  return { reads, readTextFile: (path) => (reads.push(path), nodeReadTextFile(path)) };
}

function deps(env: Record<string, string>, extra: Partial<AwsCredentialDeps> = {}): AwsCredentialDeps {
  return { clock: fakeClock(), log: silentLogger, fetch: loopbackFetch, env, ...extra };
}

describe("resolveCredentialChain", () => {
  test("takes the environment first, even when a profile and instance metadata have keys", async () => {
    const server = await imds();
    const env = { HOME: homeWithProfile("AKIAFILE"), AWS_EC2_METADATA_SERVICE_ENDPOINT: server.endpoint, AWS_ACCESS_KEY_ID: "AKIAENV", AWS_SECRET_ACCESS_KEY: "env-secret", AWS_SESSION_TOKEN: "env-token" };
    const result = await resolveCredentialChain({}, deps(env));
    expect(result).toEqual({ ok: true, value: { accessKeyId: "AKIAENV", secretAccessKey: "env-secret", sessionToken: "env-token", source: "env" } });
    expect(server.log).toEqual([]);
  });

  test("takes the shared files before instance metadata", async () => {
    const server = await imds();
    const result = await resolveCredentialChain({}, deps({ HOME: homeWithProfile("AKIAFILE"), AWS_EC2_METADATA_SERVICE_ENDPOINT: server.endpoint }));
    expect(result.ok && result.value).toEqual({ accessKeyId: "AKIAFILE", secretAccessKey: "file-secret", source: "shared-files" });
    expect(server.log).toEqual([]);
  });

  test("falls through to instance metadata when env and files have nothing", async () => {
    const server = await imds();
    const result = await resolveCredentialChain({}, deps({ HOME: "/nonexistent-home", AWS_EC2_METADATA_SERVICE_ENDPOINT: server.endpoint }));
    expect(result.ok && result.value).toEqual({ accessKeyId: "ASIA1", secretAccessKey: "secret-1", sessionToken: "session-1", source: "imds" });
  });

  test("reads AWS_CREDENTIAL_EXPIRATION as the expiry of env keys", async () => {
    const env = { AWS_ACCESS_KEY_ID: "ASIAENV", AWS_SECRET_ACCESS_KEY: "s", AWS_SESSION_TOKEN: "t", AWS_CREDENTIAL_EXPIRATION: "2026-03-01T12:00:00Z" };
    const result = await resolveCredentialChain({}, deps(env));
    expect(result.ok && result.value.expiresAtMs).toBe(Date.parse("2026-03-01T12:00:00Z"));
  });

  test("names every source and why each gave nothing", async () => {
    const server = await imds();
    await server.close();
    const env = { HOME: "/nonexistent-home", AWS_ACCESS_KEY_ID: "AKIAHALF", AWS_PROFILE: "prod", AWS_EC2_METADATA_SERVICE_ENDPOINT: server.endpoint };
    const result = await resolveCredentialChain({}, deps(env));
    expect(result).toEqual({
      ok: false,
      error: {
        code: "AWS_CREDENTIALS_UNAVAILABLE",
        message:
          "No AWS credentials found. Tried environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; " +
          "shared files: neither /nonexistent-home/.aws/credentials nor /nonexistent-home/.aws/config exists; " +
          `EC2 instance metadata: PUT ${server.endpoint}/latest/api/token failed (ECONNREFUSED).`,
        tried: [
          { source: "env", reason: "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not" },
          { source: "shared-files", reason: "neither /nonexistent-home/.aws/credentials nor /nonexistent-home/.aws/config exists" },
          { source: "imds", reason: `PUT ${server.endpoint}/latest/api/token failed (ECONNREFUSED)` },
        ],
      },
    });
  });

  test("says instance metadata was disabled when AWS_EC2_METADATA_DISABLED=true", async () => {
    const result = await resolveCredentialChain({}, deps({ HOME: "/nonexistent-home", AWS_EC2_METADATA_DISABLED: "true" }));
    expect(!result.ok && result.error.message).toBe(
      "No AWS credentials found. Tried environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set; " +
        "shared files: neither /nonexistent-home/.aws/credentials nor /nonexistent-home/.aws/config exists; " +
        "EC2 instance metadata: disabled by AWS_EC2_METADATA_DISABLED=true.",
    );
  });

  test("a config profile wins over AWS_PROFILE", async () => {
    const home = homeWithProfile("AKIADEFAULT");
    writeFileSync(join(home, ".aws", "credentials"), "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = a\n[hub]\naws_access_key_id = AKIAHUB\naws_secret_access_key = b\n");
    const result = await resolveCredentialChain({ profile: "hub" }, deps({ HOME: home, AWS_PROFILE: "default", AWS_EC2_METADATA_DISABLED: "true" }));
    expect(result.ok && result.value.accessKeyId).toBe("AKIAHUB");
  });
});

describe("createAwsCredentialChain", () => {
  test("keeps credentials without an expiry for the life of the process", async () => {
    const { readTextFile, reads } = countingReads();
    const clock = fakeClock();
    const provider = createAwsCredentialChain({}, deps({ HOME: homeWithProfile("AKIAFILE"), AWS_EC2_METADATA_DISABLED: "true" }, { clock, readTextFile }));
    for (let i = 0; i < 5; i++) {
      expect((await provider()).ok).toBe(true);
      clock.advance(24 * 3600_000);
    }
    expect(reads.length).toBe(2); // credentials + config, once
  });

  test("remembers a failure for retryIntervalMs, then walks the chain again", async () => {
    const { readTextFile, reads } = countingReads();
    const clock = fakeClock();
    const home = mkdtempSync(join(tmpdir(), "aws-home-"));
    cleanups.push(() => rmSync(home, { recursive: true, force: true }));
    const provider = createAwsCredentialChain({ retryIntervalMs: 10_000 }, deps({ HOME: home, AWS_EC2_METADATA_DISABLED: "true" }, { clock, readTextFile }));
    expect((await provider()).ok).toBe(false);
    clock.advance(9_999);
    expect((await provider()).ok).toBe(false);
    expect(reads.length).toBe(2);
    mkdirSync(join(home, ".aws"));
    writeFileSync(join(home, ".aws", "credentials"), "[default]\naws_access_key_id = AKIALATE\naws_secret_access_key = s\n");
    clock.advance(1);
    const late = await provider();
    expect(late.ok && late.value.accessKeyId).toBe("AKIALATE");
    expect(reads.length).toBe(4);
  });

  test("logs where the credentials came from once, and why there are none", async () => {
    const lines: string[] = [];
    const log: Logger = { debug() {}, info: (m, f) => lines.push(`info ${m} ${JSON.stringify(f)}`), warn() {}, error: (m, f) => lines.push(`error ${m} ${JSON.stringify(f)}`) };
    const found = createAwsCredentialChain({}, deps({ AWS_ACCESS_KEY_ID: "AKIAENV", AWS_SECRET_ACCESS_KEY: "s" }, { log }));
    await found();
    await found();
    const missing = createAwsCredentialChain({}, deps({ HOME: "/nonexistent-home", AWS_EC2_METADATA_DISABLED: "true" }, { log }));
    await missing();
    expect(lines).toEqual([
      'info Using AWS credentials. {"source":"env","expires":"never"}',
      expect.stringMatching(/^error No AWS credentials\. \{"reason":"No AWS credentials found\. Tried environment: /),
    ]);
  });
});

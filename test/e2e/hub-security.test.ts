/**
 * The compiled hub's security edges: TLS on the listener (and client certificates), SigV4-signed
 * forwarding as AMP expects it (checked by an independent verifier), and MAX_TENANT_LABELS.
 */
import { execFileSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../support/agent-process";
import { startHub, type HubHandle } from "../support/hub-process";
import { encodeWriteRequest, snappyCompress } from "../hub/ingest/ingest-test-helpers";

const TOKEN = "security-tenant-token-0123456789";
const TOKEN_2 = "security-tenant2-token-0123456789";

function body(name: string): Uint8Array {
  return snappyCompress(encodeWriteRequest({ timeseries: [{ labels: [{ name: "__name__", value: name }], samples: [{ value: 1, timestamp: Date.now() }] }] }));
}

const WRITE_HEADERS = { "content-encoding": "snappy", "content-type": "application/x-protobuf" };

/** A remote-write receiver that answers 204 and keeps each request. */
async function receiver(): Promise<{ server: Server; url: string; requests: { headers: Record<string, string>; path: string; body: Buffer }[] }> {
  const requests: { headers: Record<string, string>; path: string; body: Buffer }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests.push({ headers: req.headers as Record<string, string>, path: req.url ?? "/", body: Buffer.concat(chunks) });
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests };
}

/** SigV4 recomputed from scratch (node:crypto only): the Authorization the request should carry. */
function expectedAuthorization(req: { headers: Record<string, string>; path: string; body: Buffer }, secret: string, region: string, service: string): string {
  const auth = req.headers.authorization;
  const signed = /SignedHeaders=([^,]+)/.exec(auth)![1].split(";");
  const credential = /Credential=([^,]+)/.exec(auth)![1];
  const amzDate = req.headers["x-amz-date"];
  const day = amzDate.slice(0, 8);
  const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
  const canonical = [
    "POST",
    req.path,
    "",
    ...signed.map((h) => `${h}:${String(req.headers[h]).trim().replace(/\s+/g, " ")}`),
    "",
    signed.join(";"),
    sha(req.body),
  ].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha(canonical)].join("\n");
  const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data).digest();
  const kSigning = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), "aws4_request");
  const signature = createHmac("sha256", kSigning).update(toSign).digest("hex");
  return `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=${signed.join(";")}, Signature=${signature}`;
}

describe("SigV4 forwarding to an AMP-style endpoint", () => {
  it("signs every forwarded request (service aps, session token, payload hash) as an independent verifier computes it", async () => {
    const rx = await receiver();
    const dir = mkdtempSync(join(tmpdir(), "hub-sigv4-"));
    writeFileSync(join(dir, "t.token"), TOKEN);
    let hub: HubHandle | undefined;
    try {
      hub = await startHub({
        yaml: `upstreams: [{ name: amp, url: "${rx.url}/workspaces/ws-e2e/api/v1/remote_write", sigv4: { region: eu-west-1 } }]\ntenants: [{ id: s, tokenFile: "${join(dir, "t.token")}" }]\n`,
        env: { AWS_ACCESS_KEY_ID: "AKIDE2ETEST", AWS_SECRET_ACCESS_KEY: "e2e/secret/key", AWS_SESSION_TOKEN: "e2e-session-token", AWS_EC2_METADATA_DISABLED: "true" },
      });
      const r = await fetch(`${hub.url}/api/v1/write`, { method: "POST", headers: { ...WRITE_HEADERS, authorization: `Bearer ${TOKEN}` }, body: body("sigv4_probe") as BodyInit });
      expect(r.status).toBe(204);
      await waitFor(async () => rx.requests.some((q) => q.headers.authorization?.startsWith("AWS4-HMAC-SHA256")), 10_000, "a signed request at the receiver");
      const signedReq = rx.requests.find((q) => q.headers.authorization?.startsWith("AWS4-HMAC-SHA256"))!;
      expect(signedReq.path).toBe("/workspaces/ws-e2e/api/v1/remote_write");
      expect(signedReq.headers.authorization).toMatch(/Credential=AKIDE2ETEST\/\d{8}\/eu-west-1\/aps\/aws4_request/);
      expect(signedReq.headers["x-amz-security-token"]).toBe("e2e-session-token");
      expect(signedReq.headers.authorization).toBe(expectedAuthorization(signedReq, "e2e/secret/key", "eu-west-1", "aps"));
      expect(/SignedHeaders=([^,]+)/.exec(signedReq.headers.authorization)![1].split(";")).toEqual(expect.arrayContaining(["host", "x-amz-date", "x-amz-security-token", "content-encoding", "content-type"]));
    } finally {
      await hub?.stop();
      rx.server.close();
    }
  }, 30_000);
});

describe("TLS on the hub's listener", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "hub-tls-"));
    const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=e2e-ca");
    writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext");
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=studio-eu");
    ssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.crt", "-days", "2");
    // Same CA, another subject; and the same subject as client.crt signed by a CA the hub does not trust.
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.csr", "-subj", "/CN=studio-us/O=studio");
    ssl("x509", "-req", "-in", "other.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "other.crt", "-days", "2");
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "evil-ca.key", "-out", "evil-ca.crt", "-days", "2", "-subj", "/CN=evil-ca");
    ssl("x509", "-req", "-in", "client.csr", "-CA", "evil-ca.crt", "-CAkey", "evil-ca.key", "-CAcreateserial", "-out", "spoof.crt", "-days", "2");
    writeFileSync(join(dir, "t.token"), TOKEN);
  });

  it("maps the subject of the client certificate it verified to that tenant; a forged one (other CA) is nobody", async () => {
    const rx = await receiver();
    const f = (name: string) => join(dir, name);
    const ca = readFileSync(f("ca.crt"));
    // requireClientCert off: a client may also come with a bearer token and no certificate.
    const hub = await startHub({
      yaml: `tls: { certFile: "${f("server.crt")}", keyFile: "${f("server.key")}", clientCaFile: "${f("ca.crt")}" }
upstreams: [{ name: u, url: "${rx.url}/api/v1/write" }]
tenants:
  - { id: eu, clientCertSubject: "CN=studio-eu" }
  - { id: us, clientCertSubject: "O=studio, CN=studio-us" }
  - { id: s, tokenFile: "${f("t.token")}" }
`,
      readyUrl: "https",
      tls: { ca: ca.toString() },
    });
    const send = (dispatcher: Agent, metric: string, headers: Record<string, string> = {}) =>
      undiciFetch(`https://127.0.0.1:${hub.port}/api/v1/write`, { method: "POST", headers: { ...WRITE_HEADERS, ...headers }, body: body(metric), dispatcher }).then((r) => r.status);
    const withCert = (cert: string, key: string) => new Agent({ connect: { ca, cert: readFileSync(f(cert)), key: readFileSync(f(key)) } });
    try {
      const eu = withCert("client.crt", "client.key");
      expect(await send(eu, "cert_probe")).toBe(204);
      expect(await send(eu, "cert_probe")).toBe(204); // same keep-alive connection, same tenant
      expect(await send(withCert("other.crt", "other.key"), "cert_probe")).toBe(204);
      // Signed by a CA the hub does not trust: its subject says studio-eu, which is not believed.
      expect(await send(withCert("spoof.crt", "client.key"), "cert_probe")).toBe(401);
      // No certificate: only a token gets in.
      const noCert = new Agent({ connect: { ca } });
      expect(await send(noCert, "cert_probe")).toBe(401);
      expect(await send(noCert, "cert_probe", { authorization: `Bearer ${TOKEN}` })).toBe(204);
      // A tenant header cannot switch the certificate's tenant.
      expect(await send(eu, "cert_probe", { "x-scope-orgid": "us" })).toBe(204);
      expect(await hub.metric('tenant_samples_ingested_total{tenant="eu"}')).toBe(3);
      expect(await hub.metric('tenant_samples_ingested_total{tenant="us"}')).toBe(1);
      expect(await hub.metric('tenant_samples_ingested_total{tenant="s"}')).toBe(1);
    } finally {
      await hub.stop();
      rx.server.close();
    }
  }, 30_000);

  it("serves remote write over TLS; with requireClientCert a client without a certificate signed by the CA is refused", async () => {
    const rx = await receiver();
    const f = (name: string) => join(dir, name);
    const hub = await startHub({
      yaml: `tls: { certFile: "${f("server.crt")}", keyFile: "${f("server.key")}", clientCaFile: "${f("ca.crt")}", requireClientCert: true }
upstreams: [{ name: u, url: "${rx.url}/api/v1/write" }]
tenants: [{ id: s, tokenFile: "${f("t.token")}" }]
`,
      readyUrl: "https",
      tls: { ca: readFileSync(f("ca.crt"), "utf8"), cert: readFileSync(f("client.crt"), "utf8"), key: readFileSync(f("client.key"), "utf8") },
    });
    try {
      const https = `https://127.0.0.1:${hub.port}`;
      const withCert = new Agent({ connect: { ca: readFileSync(f("ca.crt")), cert: readFileSync(f("client.crt")), key: readFileSync(f("client.key")) } });
      const ok = await undiciFetch(`${https}/api/v1/write`, { method: "POST", headers: { ...WRITE_HEADERS, authorization: `Bearer ${TOKEN}` }, body: body("tls_probe"), dispatcher: withCert });
      expect(ok.status).toBe(204);
      const noCert = new Agent({ connect: { ca: readFileSync(f("ca.crt")) } });
      const refused = await undiciFetch(`${https}/-/healthy`, { dispatcher: noCert }).then(
        (r) => `status ${r.status}`,
        (e: Error) => `error ${(e.cause as Error | undefined)?.message ?? e.message}`,
      );
      expect(refused).toMatch(/^error /);
      const plain = await fetch(`http://127.0.0.1:${hub.port}/-/healthy`).then(
        (r) => `status ${r.status}`,
        () => "error",
      );
      expect(plain).not.toBe("status 200");
      await waitFor(async () => rx.requests.length > 0, 10_000, "forwarded over TLS ingress");
    } finally {
      await hub.stop();
      rx.server.close();
    }
  }, 30_000);
});

describe("MAX_TENANT_LABELS", () => {
  let hub: HubHandle;
  let rx: Awaited<ReturnType<typeof receiver>>;
  beforeAll(async () => {
    rx = await receiver();
    hub = await startHub({ yaml: `maxTenantLabels: 1\n`, upstreams: [`${rx.url}/api/v1/write`], tenants: { first: TOKEN, second: TOKEN_2 } });
  }, 30_000);
  afterAll(async () => {
    await hub?.stop();
    rx?.server.close();
  });

  it("the hub's own metrics track at most N tenants; the rest fold into __overflow__ and are counted", async () => {
    for (const token of [TOKEN, TOKEN_2]) {
      const r = await fetch(`${hub.url}/api/v1/write`, { method: "POST", headers: { ...WRITE_HEADERS, authorization: `Bearer ${token}` }, body: body("overflow_probe") as BodyInit });
      expect(r.status).toBe(204);
    }
    const text = await hub.metricsText();
    expect(text).toMatch(/tenant_samples_ingested_total\{tenant="first"\} 1/);
    expect(text).toMatch(/tenant_samples_ingested_total\{tenant="__overflow__"\} 1/);
    expect(text).not.toMatch(/tenant="second"/);
    expect(await hub.metric("hub_tenant_label_overflow_total")).toBeGreaterThan(0);
  });
});

describe("tenants by client-certificate subject, behind a TLS-terminating proxy (ALB mTLS)", () => {
  it("maps the verified subject a trusted proxy passes to its tenant; an untrusted peer's header is ignored", async () => {
    const rx = await receiver();
    const dir = mkdtempSync(join(tmpdir(), "hub-subject-"));
    writeFileSync(join(dir, "t.token"), TOKEN);
    const yaml = (trusted: string) => `clientCert: { subjectHeader: X-Amzn-Mtls-Clientcert-Subject, trustedProxies: ["${trusted}"] }
upstreams: [{ name: u, url: "${rx.url}/api/v1/write" }]
tenants:
  - { id: by-cert, clientCertSubject: "CN=studio-eu,O=studio" }
  - { id: by-token, tokenFile: "${join(dir, "t.token")}" }
`;
    const send = (hub: HubHandle, subject: string) =>
      fetch(`${hub.url}/api/v1/write`, { method: "POST", headers: { ...WRITE_HEADERS, "x-amzn-mtls-clientcert-subject": subject }, body: body("subject_probe") as BodyInit });
    const trusted = await startHub({ yaml: yaml("127.0.0.0/8") });
    try {
      expect((await send(trusted, "CN=studio-eu, O=studio")).status).toBe(204);
      expect((await send(trusted, "CN=someone-else,O=studio")).status).toBe(401);
      expect(await trusted.metric('tenant_samples_ingested_total{tenant="by-cert"}')).toBe(1);
    } finally {
      await trusted.stop();
    }
    const untrusted = await startHub({ yaml: yaml("10.0.0.0/8") });
    try {
      expect((await send(untrusted, "CN=studio-eu,O=studio")).status).toBe(401);
    } finally {
      await untrusted.stop();
      rx.server.close();
    }
  }, 30_000);
});

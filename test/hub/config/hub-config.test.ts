import { describe, expect, it } from "vitest";
import { applyHubFlags, DEFAULT_SHARDS, defaultHubConfig, hashToken, parseHubConfig } from "../../../hub/config/hub-config";

const files: Record<string, string> = {
  "/t/a.token": "token-of-tenant-a-0123456789\n",
  "/t/b.token": "token-of-tenant-b-0123456789",
  "/t/short.token": "short",
  "/t/admin.token": "admin-token-0123456789abcdef",
};
const readText = (f: string) => {
  if (!(f in files)) throw new Error(`ENOENT: no such file, open '${f}'`);
  return files[f];
};

async function parse(yaml: string) {
  return parseHubConfig(yaml, "hub.yaml", readText);
}

describe("hub config", () => {
  it("fills defaults and hashes tokens; the first upstream is a tenant's default", async () => {
    const r = await parse(`
upstreams: [{ name: prom, url: "http://127.0.0.1:9090/api/v1/write" }]
tenants: [{ id: a, tokenFile: /t/a.token }]
adminTokenFile: /t/admin.token
`);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.tenants[0].tokenHashes).toEqual([hashToken("token-of-tenant-a-0123456789")]);
    expect(r.value.tenants[0].upstreams).toEqual(["prom"]);
    expect(r.value.upstreams[0]).toMatchObject({ shards: DEFAULT_SHARDS, maxRequestsPerSec: 200, fsync: "batch" });
    expect(r.value.adminTokenHash).toBe(hashToken("admin-token-0123456789abcdef"));
    expect(r.value.maxTenantLabels).toBe(1000);
    expect(r.value.limits.paceBacklogBytes).toBe(16 * 1024 * 1024);
    expect(r.value.budget).toEqual({ evaluateEverySec: 30, throttleWithinSec: 120, critical: ["up", "*_slo_*", "gameplay_*"] });
  });

  it.each([
    [`upstreams: [{ name: p, url: "ftp://x" }]`, `upstreams[0].url must be an http(s) URL (got "ftp://x")`],
    [`upstreams: [{ url: "http://x" }]`, "upstreams[0].name is required"],
    [`listen: 9201`, "listen must be a string (got 9201)"],
    [`tenants: [{ id: a, tokenFile: /t/a.token, limtis: {} }]`, "tenants[0].limtis is not a known setting"],
    [`upstreams: [{ name: p, url: "http://x" }]\ntenants: [{ id: a, tokenFile: /t/missing.token }]`, "tenants[0].tokenFile: cannot read /t/missing.token"],
    [`upstreams: [{ name: p, url: "http://x" }]\ntenants: [{ id: a, tokenFile: /t/short.token }]`, "shorter than 16 characters"],
    [`upstreams: [{ name: p, url: "http://x" }]\ntenants: [{ id: a, tokenFile: /t/a.token }, { id: b, tokenFile: /t/a.token }]`, `tenants[1] (b) uses the same token as tenant "a"`],
    [`upstreams: [{ name: p, url: "http://x" }]\ntenants: [{ id: a, tokenFile: /t/a.token }, { id: a, tokenFile: /t/b.token }]`, `tenants[1].id "a" is used twice`],
    [`upstreams: [{ name: p, url: "http://x" }]\ntenants: [{ id: a, tokenFile: /t/a.token, upstream: q }]`, `tenants[0] (a).upstream "q" is not in upstreams (have p)`],
    [`upstreams: [{ name: p, url: "http://x" }]\ntenants: [{ id: a }]`, "tenants[0] (a) needs a tokenFile or a clientCertSubject"],
    [`budget: { evaluateEverySec: 300, throttleWithinSec: 120 }`, "budget.evaluateEverySec (300) must be <= budget.throttleWithinSec (120)"],
    [`upstreams: [{ name: p, url: "http://x", sigv4: { region: eu-west-1 }, bearerTokenFile: /t/a.token }]`, "sigv4 signs the request itself"],
    [`tls: { certFile: a, keyFile: b, requireClientCert: true }`, "tls.requireClientCert needs tls.clientCaFile"],
    [`limits: { paceBacklogBytes: -1 }`, "limits.paceBacklogBytes"],
    [`upstreams: [{ name: p, url: "http://x", fsync: sometimes }]`, `upstreams[0].fsync must be one of "always", "batch", "never" (got "sometimes")`],
    [`upstreams: [{ name: p, url: "http://x", fsyncIntervalMs: -1 }]`, "upstreams[0].fsyncIntervalMs must be >= 0 (got -1)"],
    [`upstreams: [{ name: p, url: "http://x", fsyncIntervalMs: 5000 }]`, "upstreams[0].fsyncIntervalMs must be <= 1000 (got 5000)"],
  ])("refuses %s", async (yaml, message) => {
    const r = await parse(yaml);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(message);
  });

  it("takes an upstream's fsync policy (batch by default)", async () => {
    const r = await parse(`upstreams: [{ name: p, url: "http://x", fsync: never }, { name: q, url: "http://y" }]`);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.upstreams.map((u) => u.fsync)).toEqual(["never", "batch"]);
  });

  it("takes an upstream's least time between fdatasyncs (4 ms by default, 0 allowed)", async () => {
    const r = await parse(`upstreams: [{ name: p, url: "http://x", fsyncIntervalMs: 0 }, { name: q, url: "http://y" }, { name: s, url: "http://z", fsyncIntervalMs: 2.5 }]`);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.upstreams.map((u) => u.fsyncIntervalMs)).toEqual([0, 4, 2.5]);
  });

  it("refuses a tenant routed to an upstream of another residency, or to one without residency", async () => {
    const other = await parse(`
upstreams: [{ name: us, url: "http://x", residency: us }, { name: eu, url: "http://y", residency: eu }]
tenants: [{ id: a, tokenFile: /t/a.token, residency: eu, upstreams: [eu, us] }]
`);
    expect(other.ok).toBe(false);
    if (!other.ok) expect(other.error).toBe(`tenants[0] (a).upstream "us" breaks residency: tenant is "eu", upstream is "us"`);
    const unset = await parse(`
upstreams: [{ name: any, url: "http://x" }]
tenants: [{ id: a, tokenFile: /t/a.token, residency: eu }]
`);
    expect(unset.ok).toBe(false);
    if (!unset.ok) expect(unset.error).toContain(`upstream is "unset"`);
  });

  it("quick-start flags add upstreams and tenants; a malformed --tenant is named without its token", () => {
    const c = applyHubFlags(defaultHubConfig(), { upstream: ["http://127.0.0.1:9090/api/v1/write"], tenant: ["studio:secret-token-value"], listen: "127.0.0.1:9999" });
    expect(c.ok).toBe(true);
    if (!c.ok) return;
    expect(c.value.listen).toBe("127.0.0.1:9999");
    expect(c.value.tenants).toMatchObject([{ id: "studio", tokenHashes: [hashToken("secret-token-value")], upstreams: ["default"] }]);
    const bad = applyHubFlags(defaultHubConfig(), { upstream: ["http://x"], tenant: ["no-colon"] });
    expect(bad.ok).toBe(false);
    const leaky = applyHubFlags(defaultHubConfig(), { upstream: ["http://x"], tenant: ["bad name:super-secret"] });
    expect(leaky.ok).toBe(false);
    if (!leaky.ok) expect(leaky.error).not.toContain("super-secret");
    const noUpstream = applyHubFlags(defaultHubConfig(), { tenant: ["a:b-token"] });
    expect(noUpstream.ok).toBe(false);
    if (!noUpstream.ok) expect(noUpstream.error).toContain("--tenant needs an --upstream");
  });
});

describe("client-certificate tenants", () => {
  it("need a client CA on the listener or the proxy header config, and a subject maps to one tenant only", async () => {
    const noProxy = await parse(`upstreams: [{ name: p, url: "http://x" }]\ntenants: [{ id: a, clientCertSubject: "CN=a" }]`);
    expect(noProxy.ok).toBe(false);
    if (!noProxy.ok) expect(noProxy.error).toContain("clientCertSubject needs tls.clientCaFile (the hub verifies client certificates itself) or clientCert.subjectHeader");
    const ownTls = await parse(`tls: { certFile: s.crt, keyFile: s.key, clientCaFile: ca.crt }\nupstreams: [{ name: p, url: "http://x" }]\ntenants: [{ id: a, clientCertSubject: "CN=a" }]`);
    expect(ownTls.ok).toBe(true);
    const twice = await parse(
      `clientCert: { subjectHeader: X-Subject, trustedProxies: [10.0.0.0/8] }\nupstreams: [{ name: p, url: "http://x" }]\ntenants: [{ id: a, clientCertSubject: "CN=a, O=s" }, { id: b, clientCertSubject: "O=s,CN=a" }]`,
    );
    expect(twice.ok).toBe(false);
    if (!twice.ok) expect(twice.error).toContain(`uses the same clientCertSubject as tenant "a"`);
    const badProxy = await parse(`clientCert: { subjectHeader: X-Subject, trustedProxies: [10.0.0.0/40] }`);
    expect(badProxy.ok).toBe(false);
  });
});

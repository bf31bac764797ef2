import { describe, expect, it } from "vitest";
import { TenantAuth } from "../../../hub/auth/tenant-auth";
import { hashToken, normalizeSubject, parseHubConfig, type TenantConfig } from "../../../hub/config/hub-config";

const TOKEN_A = "token-of-tenant-a-0123456789";

async function tenants(): Promise<TenantConfig[]> {
  const r = await parseHubConfig(
    `clientCert: { subjectHeader: X-Subject, trustedProxies: [10.1.0.0/16, 192.168.1.7] }
upstreams: [{ name: p, url: "http://x" }]
tenants:
  - { id: a, tokenFile: /t/a.token }
  - { id: eu, clientCertSubject: "CN=studio-eu,O=studio" }
  - { id: us, clientCertSubject: "CN=studio-us,O=studio" }
`,
    "hub.yaml",
    () => TOKEN_A,
  );
  if (!r.ok) throw new Error(r.error);
  return r.value.tenants;
}

describe("TenantAuth", () => {
  it("a bearer token maps to its tenant only; an unknown token or none is nobody", async () => {
    const auth = new TenantAuth(await tenants(), undefined, { subjectHeader: "X-Subject", trustedProxies: ["10.1.0.0/16"] });
    expect(auth.tenantFor(`Bearer ${TOKEN_A}`)?.id).toBe("a");
    expect(auth.tenantFor(`bearer   ${TOKEN_A} `)?.id).toBe("a");
    expect(auth.tenantFor("Bearer not-a-token")).toBeUndefined();
    expect(auth.tenantFor(undefined)).toBeUndefined();
    expect(auth.tenantFor(`Basic ${TOKEN_A}`)).toBeUndefined();
  });

  it("a remembered header answers only for its own token; bad tokens are not remembered; the memory is bounded", async () => {
    const TOKEN_B = "token-of-tenant-b-9876543210";
    const r = await parseHubConfig(
      `upstreams: [{ name: p, url: "http://x" }]
tenants:
  - { id: a, tokenFile: /t/a.token }
  - { id: b, tokenFile: /t/b.token }
`,
      "hub.yaml",
      (file: string) => (file.endsWith("a.token") ? TOKEN_A : TOKEN_B),
    );
    if (!r.ok) throw new Error(r.error);
    const auth = new TenantAuth(r.value.tenants);
    // Distinct valid headers for the same tokens: scheme case and trailing spaces vary.
    const header = (i: number, token: string) => {
      const scheme = [..."Bearer"].map((c, k) => ((i >> k) & 1 ? c.toUpperCase() : c.toLowerCase())).join("");
      return `${scheme} ${token}${" ".repeat(i >> 6)}`;
    };
    for (let i = 0; i < 12_000; i++) {
      expect(auth.tenantFor(header(i, TOKEN_A))?.id).toBe("a");
      expect(auth.tenantFor(header(i, TOKEN_B))?.id).toBe("b");
      expect(auth.tenantFor(header(i, `${TOKEN_A}x`))).toBeUndefined();
      expect(auth.rememberedHeaders).toBeLessThanOrEqual(10_000);
    }
    // After the memory was cleared (24,000 valid headers > 10,000), remembered ones still answer right.
    expect(auth.tenantFor(header(11_999, TOKEN_A))?.id).toBe("a");
    expect(auth.tenantFor(header(11_999, TOKEN_B))?.id).toBe("b");
    expect(auth.tenantFor(`Bearer ${TOKEN_B}x`)).toBeUndefined();
    expect(auth.rememberedHeaders).toBeGreaterThan(0);
  });

  it("the listener's verified certificate subject maps to its tenant, whatever the attribute order or spacing", async () => {
    const auth = new TenantAuth(await tenants());
    expect(auth.tenantFor(undefined, "", undefined, "CN=studio-eu,O=studio")?.id).toBe("eu");
    expect(auth.tenantFor(undefined, "", undefined, "O=studio, CN=studio-us")?.id).toBe("us");
    expect(auth.tenantFor(undefined, "", undefined, "CN=studio-xx,O=studio")).toBeUndefined();
    // A token decides over the certificate.
    expect(auth.tenantFor(`Bearer ${TOKEN_A}`, "", undefined, "CN=studio-eu,O=studio")?.id).toBe("a");
  });

  it("a proxy's subject header is believed only from a trusted peer, and only when configured", async () => {
    const ts = await tenants();
    const auth = new TenantAuth(ts, undefined, { subjectHeader: "X-Subject", trustedProxies: ["10.1.0.0/16", "192.168.1.7"] });
    expect(auth.tenantFor(undefined, "10.1.200.3", "CN=studio-eu,O=studio")?.id).toBe("eu");
    expect(auth.tenantFor(undefined, "::ffff:192.168.1.7", "CN=studio-us,O=studio")?.id).toBe("us");
    expect(auth.tenantFor(undefined, "10.2.0.1", "CN=studio-eu,O=studio")).toBeUndefined();
    expect(auth.tenantFor(undefined, "192.168.1.8", "CN=studio-eu,O=studio")).toBeUndefined();
    const noProxy = new TenantAuth(ts);
    expect(noProxy.tenantFor(undefined, "10.1.200.3", "CN=studio-eu,O=studio")).toBeUndefined();
  });

  it("admin endpoints need the admin token, compared by digest", () => {
    const auth = new TenantAuth([], hashToken("admin-token-0123456789abcdef"));
    expect(auth.isAdmin("Bearer admin-token-0123456789abcdef")).toBe(true);
    expect(auth.isAdmin("Bearer admin-token-0123456789abcdeX")).toBe(false);
    expect(auth.isAdmin(undefined)).toBe(false);
    expect(new TenantAuth([]).isAdmin("Bearer admin-token-0123456789abcdef")).toBe(false);
  });
});

describe("normalizeSubject", () => {
  it("ignores order and spaces between attributes, keeps escaped commas inside values", () => {
    expect(normalizeSubject("CN=a, O=b")).toBe(normalizeSubject("O=b,CN=a"));
    expect(normalizeSubject("CN=a\\, inc,O=b")).toBe("CN=a\\, inc,O=b");
    expect(normalizeSubject("CN=a,O=b")).not.toBe(normalizeSubject("CN=a,O=c"));
  });
});

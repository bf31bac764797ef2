/**
 * Who is writing: a bearer token maps to exactly one tenant. The tenant comes only from the
 * credential: a tenant label, `X-Scope-OrgID` or any other header in the request cannot switch
 * it. Configured tokens are kept as sha256 hashes, so the lookup compares digests, never the
 * secret itself. An Authorization header that matched is then remembered as is (at most
 * MAX_REMEMBERED, only valid ones, so bad tokens cannot fill it): an agent's next request costs a
 * Map lookup instead of a regex and a sha256 (~1.5 % of the hub's JS samples at 400k samples/s).
 *
 * Client certificates map to the tenant with that `clientCertSubject`, from either
 *   - the hub's own TLS listener (tls.clientCaFile): the subject of the certificate it verified;
 *   - a TLS-terminating proxy that verified it (an ALB with mTLS) and passes the subject in a
 *     header, believed only when the request comes from one of `trustedProxies`.
 * A bearer token, when present, decides; then the listener's own verified subject.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { normalizeSubject, type TenantConfig } from "../config/hub-config";

/** Valid Authorization headers remembered (a few per tenant in practice; cleared when full). */
const MAX_REMEMBERED = 10_000;

export class TenantAuth {
  private readonly byTokenHash = new Map<string, TenantConfig>();
  private readonly byHeader = new Map<string, TenantConfig>();

  private readonly bySubject = new Map<string, TenantConfig>();
  private readonly trusted: ((address: string) => boolean)[];

  constructor(
    tenants: readonly TenantConfig[],
    private readonly adminTokenHash?: string,
    clientCert?: { subjectHeader: string; trustedProxies: string[] },
  ) {
    for (const t of tenants) {
      for (const h of t.tokenHashes) this.byTokenHash.set(h, t);
      if (t.clientCertSubject) this.bySubject.set(normalizeSubject(t.clientCertSubject), t);
    }
    this.subjectHeader = clientCert?.subjectHeader.toLowerCase();
    this.trusted = (clientCert?.trustedProxies ?? []).map(addressMatcher);
  }

  /** Header that carries a verified client-certificate subject, when configured (lower case). */
  readonly subjectHeader: string | undefined;

  /**
   * The tenant for an `Authorization: Bearer …` header, for the subject of a client certificate
   * the listener verified (`tlsSubject`), or for one passed by a trusted proxy (`subject`, from
   * `peer`); undefined → 401.
   */
  tenantFor(authorization: string | undefined, peer = "", subject?: string, tlsSubject?: string): TenantConfig | undefined {
    if (authorization !== undefined) {
      const known = this.byHeader.get(authorization);
      if (known !== undefined) return known;
    }
    const token = bearer(authorization);
    if (token !== undefined) {
      const tenant = this.byTokenHash.get(sha256Hex(token));
      if (tenant !== undefined) {
        if (this.byHeader.size >= MAX_REMEMBERED) this.byHeader.clear();
        this.byHeader.set(authorization!, tenant);
      }
      return tenant;
    }
    if (tlsSubject !== undefined) return this.bySubject.get(normalizeSubject(tlsSubject));
    if (subject === undefined || this.subjectHeader === undefined) return undefined;
    const address = peer.startsWith("::ffff:") ? peer.slice(7) : peer;
    if (!this.trusted.some((m) => m(address))) return undefined;
    return this.bySubject.get(normalizeSubject(subject));
  }

  /** Authorization headers remembered as valid (bounded by MAX_REMEMBERED). */
  get rememberedHeaders(): number {
    return this.byHeader.size;
  }

  /** Admin endpoints: off when no admin token is configured. */
  isAdmin(authorization: string | undefined): boolean {
    if (this.adminTokenHash === undefined) return false;
    const token = bearer(authorization);
    if (token === undefined) return false;
    const a = Buffer.from(sha256Hex(token), "hex");
    const b = Buffer.from(this.adminTokenHash, "hex");
    return a.length === b.length && timingSafeEqual(a, b);
  }

  get adminEnabled(): boolean {
    return this.adminTokenHash !== undefined;
  }
}

function bearer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

function sha256Hex(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** An IPv4 address, an IPv4 CIDR, or an exact IPv6 address. */
function addressMatcher(spec: string): (address: string) => boolean {
  const slash = spec.indexOf("/");
  if (slash < 0) return (a) => a === spec;
  const bits = Number(spec.slice(slash + 1));
  const base = ipv4(spec.slice(0, slash));
  if (base === undefined) return () => false;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (a) => {
    const v = ipv4(a);
    return v !== undefined && ((v & mask) >>> 0) === ((base & mask) >>> 0);
  };
}

function ipv4(a: string): number | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (!m) return undefined;
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

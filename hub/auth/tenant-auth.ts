/**
 * Who is writing: a bearer token maps to exactly one tenant. The tenant comes only from the
 * credential: a tenant label, `X-Scope-OrgID` or any other header in the request cannot switch
 * it. Tokens are kept as sha256 hashes, so the lookup compares digests, never the secret itself.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { TenantConfig } from "../config/hub-config";

export class TenantAuth {
  private readonly byTokenHash = new Map<string, TenantConfig>();

  constructor(
    tenants: readonly TenantConfig[],
    private readonly adminTokenHash?: string,
  ) {
    for (const t of tenants) for (const h of t.tokenHashes) this.byTokenHash.set(h, t);
  }

  /** The tenant for an `Authorization: Bearer …` header, or undefined (→ 401). */
  tenantFor(authorization: string | undefined): TenantConfig | undefined {
    const token = bearer(authorization);
    if (token === undefined) return undefined;
    return this.byTokenHash.get(sha256Hex(token));
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

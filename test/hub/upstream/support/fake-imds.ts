/**
 * A local EC2 instance metadata service speaking IMDSv2, on 127.0.0.1:
 *   PUT /latest/api/token (needs X-aws-ec2-metadata-token-ttl-seconds, else 400) → a new token;
 *   GET without a valid X-aws-ec2-metadata-token → 401;
 *   GET /latest/meta-data/iam/security-credentials/ → the role name (404 when roleless);
 *   GET /latest/meta-data/iam/security-credentials/<role> → the credentials document.
 * `document()` builds each credentials answer, so a test decides keys and Expiration per call.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeImdsOptions {
  role?: string | null;
  /** The JSON document for the n-th credentials request (n from 1). */
  document?: (n: number) => Record<string, unknown>;
  /** Never answer (a host where the metadata address goes nowhere). */
  hang?: boolean;
  /** Issue tokens but refuse them (as after a token expiry). */
  rejectTokens?: boolean;
}

export interface FakeImds {
  endpoint: string;
  /** Every request, as "METHOD path status". */
  log: string[];
  tokenTtlHeaders: string[];
  count(method: string, path: string): number;
  close(): Promise<void>;
}

export const ROLE_PATH = "/latest/meta-data/iam/security-credentials/";

export async function startFakeImds(options: FakeImdsOptions = {}): Promise<FakeImds> {
  const role = options.role === undefined ? "hub-role" : options.role;
  const tokens = new Set<string>();
  const log: string[] = [];
  const tokenTtlHeaders: string[] = [];
  let documents = 0;

  const answer = (req: IncomingMessage, res: ServerResponse, status: number, body: string) => {
    log.push(`${req.method} ${req.url} ${status}`);
    res.writeHead(status, { "content-type": "text/plain" }).end(body);
  };

  const server: Server = createServer((req, res) => {
    if (options.hang) return; // the socket stays open until close()
    if (req.method === "PUT" && req.url === "/latest/api/token") {
      const ttl = req.headers["x-aws-ec2-metadata-token-ttl-seconds"];
      if (typeof ttl !== "string") return answer(req, res, 400, "missing ttl");
      tokenTtlHeaders.push(ttl);
      const token = `token-${tokens.size + 1}`;
      tokens.add(token);
      return answer(req, res, 200, token);
    }
    const token = req.headers["x-aws-ec2-metadata-token"];
    if (typeof token !== "string" || !tokens.has(token) || options.rejectTokens) return answer(req, res, 401, "");
    if (req.method !== "GET") return answer(req, res, 405, "");
    if (req.url === ROLE_PATH) return role === null ? answer(req, res, 404, "") : answer(req, res, 200, role);
    if (role !== null && req.url === ROLE_PATH + role) {
      documents++;
      const doc = options.document?.(documents) ?? { Code: "Success", AccessKeyId: `ASIA${documents}`, SecretAccessKey: `secret-${documents}`, Token: `session-${documents}` };
      return answer(req, res, 200, JSON.stringify(doc));
    }
    return answer(req, res, 404, "");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    log,
    tokenTtlHeaders,
    count: (method, path) => log.filter((l) => l.startsWith(`${method} ${path} `)).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** fetch() that refuses anything but loopback, so no test can reach a real metadata address. */
export const loopbackFetch: typeof fetch = (input, init) => {
  const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
  if (url.hostname !== "127.0.0.1" && url.hostname !== "localhost") {
    return Promise.reject(new Error(`BUG: test tried to reach ${url.href}`));
  }
  return fetch(input, init);
};

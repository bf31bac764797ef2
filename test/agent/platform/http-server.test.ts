import { afterEach, describe, expect, it } from "vitest";
import { silentLogger, type Logger } from "../../../agent/core/deps";
import { startHttpServer, type HttpHandler, type HttpServerHandle } from "../../../agent/platform/http-server";
import { send, sendHeadOnly } from "./http-test-client";

const servers: HttpServerHandle[] = [];
afterEach(async () => {
  while (servers.length > 0) await servers.pop()!.close();
});

async function serve(handler: HttpHandler, log: Logger = silentLogger): Promise<number> {
  const r = await startHttpServer("127.0.0.1:0", handler, log);
  if (!r.ok) throw new Error(r.error);
  servers.push(r.value);
  return r.value.address().port;
}

const LIMIT = 1024;

/** Echoes what it saw; answers the BodyError's status when the body is refused. */
const echo: HttpHandler = async (req) => {
  const body = await req.readBody(LIMIT);
  if (!body.ok) return { status: body.error.status, contentType: "text/plain", body: `${body.error.reason}: ${body.error.message}\n` };
  return {
    status: 200,
    contentType: "application/json",
    headers: { "x-echo": "1" },
    body: JSON.stringify({ method: req.method, path: req.path, custom: req.header("X-Custom") ?? null, bytes: body.value.length }),
  };
};

function recordingLogger(lines: string[]): Logger {
  const push = (msg: string) => lines.push(msg);
  return { debug: push, info: push, warn: push, error: push };
}

describe("startHttpServer (node:http)", () => {
  it("listens on an ephemeral loopback port and reports it", async () => {
    const r = await startHttpServer("127.0.0.1:0", echo, silentLogger);
    if (!r.ok) throw new Error(r.error);
    servers.push(r.value);
    expect(r.value.address().address).toBe("127.0.0.1");
    expect(r.value.address().port).toBeGreaterThan(0);
  });

  it("gives the handler the method, the path without the query and case-insensitive headers", async () => {
    const port = await serve(echo);
    const r = await send(port, { method: "POST", path: "/v1/metrics?x=1&y=2", headers: { "x-custom": "hello" }, body: "abc" });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json");
    expect(r.headers["x-echo"]).toBe("1");
    expect(JSON.parse(r.body.toString())).toEqual({ method: "POST", path: "/v1/metrics", custom: "hello", bytes: 3 });
  });

  it("reads a body of exactly the limit", async () => {
    const port = await serve(echo);
    const r = await send(port, { method: "POST", body: new Uint8Array(LIMIT) });
    expect(JSON.parse(r.body.toString()).bytes).toBe(LIMIT);
  });

  it("reads a chunked body within the limit", async () => {
    const port = await serve(echo);
    const r = await send(port, { method: "POST", chunks: [new Uint8Array(300), new Uint8Array(300), new Uint8Array(300)] });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString()).bytes).toBe(900);
  });

  it("answers 413 from Content-Length alone, without waiting for the body", async () => {
    const port = await serve(echo);
    // Declares 10 MB, sends 5 bytes and never more: the answer must still come.
    const raw = await sendHeadOnly(port, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n", "hello");
    expect(raw).toMatch(/^HTTP\/1\.1 413 /);
    expect(raw).toContain("body_too_large: body of 10000000 bytes exceeds 1024 bytes\n");
  });

  it("answers 413 when a chunked body grows past the limit", async () => {
    const port = await serve(echo);
    const r = await send(port, { method: "POST", chunks: Array.from({ length: 8 }, () => new Uint8Array(512)) });
    expect(r.status).toBe(413);
    expect(r.body.toString()).toBe("body_too_large: body exceeds 1024 bytes\n");
  });

  it("answers 500 when the handler throws and keeps serving", async () => {
    const logged: string[] = [];
    let calls = 0;
    const port = await serve(() => {
      calls++;
      if (calls === 1) throw new Error("boom");
      if (calls === 2) return Promise.reject(new Error("async boom"));
      return { status: 204 };
    }, recordingLogger(logged));
    const first = await send(port, { path: "/a" });
    expect(first.status).toBe(500);
    expect(first.body.toString()).toBe("internal error\n");
    expect((await send(port, { path: "/b" })).status).toBe(500);
    expect((await send(port, { path: "/c" })).status).toBe(204);
    expect(logged).toEqual(["BUG: HTTP handler threw.", "BUG: HTTP handler threw."]);
  });

  it("sends a binary body with its exact Content-Length", async () => {
    const bytes = new Uint8Array([0, 1, 2, 255, 254]);
    const port = await serve(() => ({ status: 200, contentType: "application/x-protobuf", body: bytes }));
    const r = await send(port, {});
    expect(r.headers["content-length"]).toBe("5");
    expect([...r.body]).toEqual([...bytes]);
  });

  it("counts a multi-byte UTF-8 string body in bytes for Content-Length", async () => {
    const port = await serve(() => ({ status: 200, contentType: "text/plain; charset=utf-8", body: "héllo ✓\n" }));
    const r = await send(port, {});
    expect(r.headers["content-length"]).toBe(String(Buffer.byteLength("héllo ✓\n")));
    expect(r.body.toString("utf8")).toBe("héllo ✓\n");
  });

  it("reports a listen failure as an error value naming the address", async () => {
    const port = await serve(echo);
    const r = await startHttpServer(`127.0.0.1:${port}`, echo, silentLogger);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(new RegExp(`^listen on 127\\.0\\.0\\.1:${port} failed: .*EADDRINUSE`));
  });

  it("stops accepting connections after close", async () => {
    const r = await startHttpServer("127.0.0.1:0", echo, silentLogger);
    if (!r.ok) throw new Error(r.error);
    const { port } = r.value.address();
    await r.value.close();
    await expect(send(port, {})).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });
});

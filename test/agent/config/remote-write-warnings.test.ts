import { describe, expect, it } from "vitest";
import { parseAgentConfig, remoteWriteWarnings } from "../../../agent/config/config";

async function warningsFor(yaml: string): Promise<string[]> {
  const r = await parseAgentConfig(yaml);
  if (!r.ok) throw new Error(r.error);
  return remoteWriteWarnings(r.value);
}

describe("remoteWriteWarnings", () => {
  it("says nothing for the defaults (20 requests/s, 5 s incident flushes)", async () => {
    expect(await warningsFor("remoteWrite: [{ url: http://hub/write }]")).toEqual([]);
  });

  it("warns when the drain ceiling allows fewer than 2 requests per flush interval", async () => {
    const yaml = "cadence: { steadyIntervalSec: 10, incidentIntervalSec: 5 }\nremoteWrite: [{ url: http://a/w, maxRequestsPerSec: 0.4 }, { url: http://b/w, maxRequestsPerSec: 0.2 }]";
    expect(await warningsFor(yaml)).toEqual([
      "remoteWrite[1].maxRequestsPerSec 0.2 allows fewer than 2 requests per 5 s flush interval: a backlog after an outage may never drain (set at least 0.4).",
    ]);
  });
});

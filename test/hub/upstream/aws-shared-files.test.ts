/**
 * Shared-file credentials, one case per folder of testdata/shared-files: its `credentials` and
 * `config` are copied into a temporary $HOME/.aws; case.json gives the profile, extra env
 * ($CASE = the case folder, $HOME = the temporary home) and the credentials or the exact reason
 * expected. Runs through the chain with instance metadata disabled and no env keys.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import { fakeClock, silentLogger } from "../../../agent/core/deps";
import { resolveCredentialChain } from "../../../hub/upstream/aws-credentials";
import { parseIni } from "../../../hub/upstream/aws-shared-files";
import { loopbackFetch } from "./support/fake-imds";

const CASES_DIR = join(dirname(fileURLToPath(import.meta.url)), "testdata", "shared-files");

interface SharedFilesCase {
  profile?: string;
  env?: Record<string, string>;
  expect?: Record<string, string>;
  error?: string;
}

const cases = readdirSync(CASES_DIR).sort();
const homes: string[] = [];
afterEach(() => {
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

describe("shared files", () => {
  test.each(cases)("%s", async (name) => {
    const caseDir = join(CASES_DIR, name);
    const spec = JSON.parse(readFileSync(join(caseDir, "case.json"), "utf8")) as SharedFilesCase;
    const home = mkdtempSync(join(tmpdir(), "aws-home-"));
    homes.push(home);
    mkdirSync(join(home, ".aws"));
    for (const file of ["credentials", "config"]) {
      if (existsSync(join(caseDir, file))) cpSync(join(caseDir, file), join(home, ".aws", file));
    }
    const fill = (text: string) => text.replaceAll("$CASE", caseDir).replaceAll("$HOME", home);
    const env: Record<string, string> = { HOME: home, AWS_EC2_METADATA_DISABLED: "true" };
    for (const [k, v] of Object.entries(spec.env ?? {})) env[k] = fill(v);

    const result = await resolveCredentialChain({ profile: spec.profile }, { clock: fakeClock(), log: silentLogger, fetch: loopbackFetch, env });

    if (spec.expect !== undefined) {
      expect(result).toEqual({ ok: true, value: spec.expect });
    } else {
      if (result.ok) throw new Error(`expected an error, got keys from ${result.value.source}`);
      expect(result.error.tried.find((t) => t.source === "shared-files")?.reason).toBe(fill(spec.error ?? ""));
    }
  });

  test("parses sections, comments and nested settings as the AWS SDKs do", () => {
    const text = "top = ignored\n[ profile  a ]\nk = v ; note\nURL = http://x/#frag\ns3 =\n  nested = 1\nafter = 2\n[b]\n  indented = yes\n[profile  a]\nmore = 3\n";
    expect(parseIni(text)).toEqual(
      new Map([
        ["profile a", { k: "v", url: "http://x/#frag", after: "2", more: "3" }],
        ["b", { indented: "yes" }],
      ]),
    );
  });
});

/**
 * Credentials from the AWS shared files, read as the AWS CLI and SDKs read them:
 *   ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE): sections named by profile, `[default]`,
 *     `[ci]`;
 *   ~/.aws/config (AWS_CONFIG_FILE): `[default]` and `[profile ci]` (`[profile default]` too);
 *     other sections (`[sso-session x]`, `[services x]`) are not profiles.
 * Keys of one profile from both files are merged; the credentials file wins a clash. Only static
 * keys are used (aws_access_key_id, aws_secret_access_key, aws_session_token): a profile that
 * needs a role assumption, SSO, a credential_process or web identity is reported, not resolved.
 *
 * INI as the SDKs accept it: `#` / `;` comments (whole line, or after whitespace), `key = value`
 * (key lower-cased, value trimmed), indented lines under an empty-valued key (`s3 =`) are that
 * key's sub-settings and skipped, a repeated section adds to the first.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { err, ok, type Result } from "../../agent/core/result";
import type { AwsCredentials, Env } from "./aws-credentials";
import { nonEmpty } from "./aws-env-credentials";

/** File text, null when the file does not exist, or why it could not be read. */
export type ReadTextFile = (path: string) => Promise<Result<string | null, string>>;

export const nodeReadTextFile: ReadTextFile = async (path) => {
  try {
    return ok(await readFile(path, "utf8"));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return ok(null);
    return err(`cannot read ${path} (${code ?? (e as Error).message})`);
  }
};

export interface SharedFilePaths {
  credentialsFile: string;
  configFile: string;
}

export function sharedFilePaths(env: Env, homeDir: string): SharedFilePaths {
  const expand = (path: string) => (path === "~" ? homeDir : path.startsWith("~/") ? join(homeDir, path.slice(2)) : path);
  return {
    credentialsFile: expand(nonEmpty(env.AWS_SHARED_CREDENTIALS_FILE) ?? join(homeDir, ".aws", "credentials")),
    configFile: expand(nonEmpty(env.AWS_CONFIG_FILE) ?? join(homeDir, ".aws", "config")),
  };
}

/** Settings that mean "this profile gets credentials some other way". */
const UNSUPPORTED_PROFILE_KEYS: [key: string, what: string][] = [
  ["role_arn", "role_arn (assume role)"],
  ["sso_session", "sso_session (IAM Identity Center)"],
  ["sso_start_url", "sso_start_url (IAM Identity Center)"],
  ["credential_process", "credential_process"],
  ["web_identity_token_file", "web_identity_token_file"],
];

export async function readSharedFileCredentials(
  options: SharedFilePaths & { profile: string },
  readTextFile: ReadTextFile,
): Promise<Result<AwsCredentials, string>> {
  const { profile, credentialsFile, configFile } = options;
  const credentialsText = await readTextFile(credentialsFile);
  if (!credentialsText.ok) return credentialsText;
  const configText = await readTextFile(configFile);
  if (!configText.ok) return configText;
  if (credentialsText.value === null && configText.value === null) return err(`neither ${credentialsFile} nor ${configFile} exists`);

  const fromConfig = configText.value === null ? undefined : configProfile(parseIni(configText.value), profile);
  const fromCredentials = credentialsText.value === null ? undefined : parseIni(credentialsText.value).get(profile);
  if (fromConfig === undefined && fromCredentials === undefined) {
    return err(`profile ${JSON.stringify(profile)} is in neither ${credentialsFile} nor ${configFile}`);
  }
  const settings: Record<string, string> = { ...fromConfig, ...fromCredentials };
  const where = `profile ${JSON.stringify(profile)} (${[fromCredentials && credentialsFile, fromConfig && configFile].filter(Boolean).join(", ")})`;

  const accessKeyId = nonEmpty(settings.aws_access_key_id);
  const secretAccessKey = nonEmpty(settings.aws_secret_access_key);
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    const credentials: AwsCredentials = { accessKeyId, secretAccessKey, source: "shared-files" };
    const sessionToken = nonEmpty(settings.aws_session_token);
    if (sessionToken !== undefined) credentials.sessionToken = sessionToken;
    return ok(credentials);
  }
  if (accessKeyId !== undefined) return err(`${where} has aws_access_key_id but no aws_secret_access_key`);
  if (secretAccessKey !== undefined) return err(`${where} has aws_secret_access_key but no aws_access_key_id`);
  const unsupported = UNSUPPORTED_PROFILE_KEYS.find(([key]) => key in settings);
  if (unsupported !== undefined) return err(`${where} uses ${unsupported[1]}, which the hub does not resolve: give it static keys or use instance metadata`);
  return err(`${where} has no aws_access_key_id / aws_secret_access_key`);
}

/** A profile's section in the config file: `[profile name]`, or `[default]` for "default". */
function configProfile(sections: Map<string, Record<string, string>>, profile: string): Record<string, string> | undefined {
  const named = sections.get(`profile ${profile}`);
  if (profile !== "default") return named;
  const plain = sections.get("default");
  return plain === undefined ? named : named === undefined ? plain : { ...named, ...plain };
}

/** Section name → its settings. Section names are trimmed and inner whitespace collapsed. */
export function parseIni(text: string): Map<string, Record<string, string>> {
  const sections = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  let inSubSettings = false;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = stripComment(rawLine).trim();
    if (line === "") continue;
    const section = /^\[([^\]]*)\]$/.exec(line);
    if (section !== null) {
      const name = section[1].trim().replace(/\s+/g, " ");
      current = sections.get(name);
      if (current === undefined) sections.set(name, (current = {}));
      inSubSettings = false;
      continue;
    }
    const eq = line.indexOf("=");
    if (current === undefined || eq <= 0) continue; // a key outside any section, or not a key
    const key = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1).trim();
    // "s3 =" opens nested settings: the indented lines under it belong to s3, not the profile.
    if (inSubSettings && /^\s/.test(rawLine)) continue;
    inSubSettings = value === "";
    if (!inSubSettings) current[key] = value;
  }
  return sections;
}

/** "key = value ; note" → "key = value"; a `#` or `;` counts only at the start or after whitespace. */
function stripComment(line: string): string {
  const match = /(^|\s)[#;]/.exec(line);
  return match === null ? line : line.slice(0, match.index);
}

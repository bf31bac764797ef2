/**
 * YAML parsing adapter: Bun's built-in parser in the compiled binary (the `yaml` package adds
 * ~11 MiB of RSS there, a third of the agent's budget), the `yaml` package under Node.
 */
interface BunYaml {
  YAML?: { parse(text: string): unknown };
}

export async function parseYamlText(text: string): Promise<unknown> {
  const bunYaml = (globalThis as { Bun?: BunYaml }).Bun?.YAML;
  if (bunYaml) return bunYaml.parse(text);
  const { parse } = await import("yaml");
  return parse(text);
}

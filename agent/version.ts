/** Set at build time by scripts/build.mjs (--define); "dev" when run from source. */
declare const __AGENT_VERSION__: string | undefined;
export const VERSION: string = typeof __AGENT_VERSION__ === "string" ? __AGENT_VERSION__ : "0.1.0-dev";

/**
 * The bare StatsD loop the benches compare against: decode, split lines, count per key
 * (name + tags, the series identity) in a Map. No validation, no policy, no aggregation.
 */
export function createBareCounter(): { onText(text: string): void; readonly lines: number; readonly keys: number } {
  let lines = 0;
  const counts = new Map<string, number>();
  return {
    onText(text: string): void {
      for (const line of text.split("\n")) {
        if (line.length === 0) continue;
        const colon = line.indexOf(":");
        const tags = line.indexOf("|#");
        const key = tags === -1 ? line.slice(0, colon) : line.slice(0, colon) + line.slice(tags);
        counts.set(key, (counts.get(key) ?? 0) + 1);
        lines++;
      }
    },
    get lines() {
      return lines;
    },
    get keys() {
      return counts.size;
    },
  };
}

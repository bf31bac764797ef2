/**
 * A map from a series identity (metric name + label pairs, in their given order) to a value,
 * looked up without building a key string.
 *
 * Why: Aggregator.snapshot() hands out fresh label arrays every flush (same strings inside), so a
 * by-array cache never hits, and a concatenated "name\0k\1v…" key costs a rope, its flattening
 * and a full string hash per series per flush (~0.5 µs). Walking a trie of Maps keyed by the
 * label strings themselves costs one Map lookup per pair instead, and the engines cache a
 * string's hash in the string, so every lookup after the first is cheap and allocates nothing.
 *
 * Layout: roots by metric name; each node maps a label *value* to an edge list (usually one
 * edge) holding the label name and the child node, so series that differ only in a label's name
 * still get separate nodes. A node that ends a series holds its value.
 */
import type { LabelPair } from "./series-labels";

interface TrieNode<V> {
  value?: V;
  byValue?: Map<string, Edge<V>>;
}

interface Edge<V> {
  labelName: string;
  node: TrieNode<V>;
  /** Another edge with the same label value but a different label name. */
  other?: Edge<V>;
}

export class LabelSetMap<V> {
  private readonly roots = new Map<string, TrieNode<V>>();
  private count = 0;

  /** Number of entries. */
  get size(): number {
    return this.count;
  }

  get(name: string, labels: readonly LabelPair[]): V | undefined {
    let node = this.roots.get(name);
    for (let i = 0; node !== undefined && i < labels.length; i++) {
      const pair = labels[i];
      let edge = node.byValue?.get(pair[1]);
      while (edge !== undefined && edge.labelName !== pair[0]) edge = edge.other;
      node = edge?.node;
    }
    return node?.value;
  }

  set(name: string, labels: readonly LabelPair[], value: V): void {
    let node: TrieNode<V> | undefined = this.roots.get(name);
    if (node === undefined) this.roots.set(name, (node = {}));
    for (const [labelName, labelValue] of labels) {
      const byValue: Map<string, Edge<V>> = (node.byValue ??= new Map());
      const first: Edge<V> | undefined = byValue.get(labelValue);
      let edge: Edge<V> | undefined = first;
      while (edge !== undefined && edge.labelName !== labelName) edge = edge.other;
      if (edge === undefined) {
        edge = { labelName, node: {}, other: first };
        byValue.set(labelValue, edge);
      }
      node = edge.node;
    }
    if (node.value === undefined) this.count++;
    node.value = value;
  }
}

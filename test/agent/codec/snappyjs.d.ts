/** Types for snappyjs 0.7 (block format), the reference Snappy codec of tests and benches. */
declare module "snappyjs" {
  export function compress<T extends Uint8Array | ArrayBuffer>(uncompressed: T): T;
  export function uncompress<T extends Uint8Array | ArrayBuffer>(compressed: T, maxLength?: number): T;
}

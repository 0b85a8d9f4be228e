// Child of differential.test.ts: inserts 12 keys into an 8-entry LRU hash on the engine named in
// argv[2] and prints the key count after each insert as JSON. It runs as its own process so the
// test can pin it to one CPU: the kernel's LRU hash keeps per-CPU free lists, so which keys it
// evicts for a userspace update depends on the CPU the update runs on.
import { Collection } from "../../src/collection.js";
import { xdpCollection } from "./spec-builder.js";

const backend = process.argv[2] === "kernel" ? "kernel" : "vm";
const spec = xdpCollection(
  "lru",
  [],
  [{ name: "m", type: "lru_hash", keySize: 8, valueSize: 8, maxEntries: 8 }],
);
const c = await Collection.load(spec, { backend });
const m = c.maps.m;
if (m === undefined) throw new Error("lru-sizes: the collection has no map m");
const sizes: number[] = [];
for (let k = 0n; k < 12n; k++) {
  m.set(k, k);
  sizes.push([...m.keys()].length);
}
c.close();
console.log(JSON.stringify(sizes));

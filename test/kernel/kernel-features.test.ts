/** Feature probes against the running kernel, cross-checked with bpftool's own probes. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { MapType, ProgType } from "../../src/abi/index.js";
import { probeMapType, probeProgramType } from "../../src/kernel/features.js";
import { defaultSys } from "../../src/kernel/sys.js";
import { hasCommand, kernelSkipReason } from "./support.js";

const skip = kernelSkipReason();

test("map and program type probes agree with bpftool feature probe", { skip }, (t) => {
  if (!hasCommand("bpftool")) return t.skip("needs bpftool to compare with");
  const sys = defaultSys();
  const probed = JSON.parse(
    execFileSync("bpftool", ["feature", "probe", "kernel", "--json"], { encoding: "utf8" }),
  ) as {
    map_types: Record<string, boolean>;
    program_types: Record<string, boolean>;
  };
  // tsbpf's names are bpftool's, so each probe key comes from the table itself.
  const maps = [
    "hash",
    "array",
    "prog_array",
    "percpu_hash",
    "percpu_array",
    "lru_hash",
    "lru_percpu_hash",
    "lpm_trie",
    "queue",
    "stack",
    "ringbuf",
    "bloom_filter",
  ] as const;
  for (const name of maps) {
    assert.equal(
      probeMapType(sys, MapType[name]),
      probed.map_types[`have_${name}_map_type`],
      `map type ${name}`,
    );
  }
  for (const name of ["xdp", "socket_filter", "sched_cls"] as const) {
    assert.equal(
      probeProgramType(sys, ProgType[name]),
      probed.program_types[`have_${name}_prog_type`],
      `program type ${name}`,
    );
  }
  assert.equal(probeMapType(sys, 9999), false, "an unknown map type is absent");
  assert.equal(probeProgramType(sys, 9999), false, "an unknown program type is absent");
});

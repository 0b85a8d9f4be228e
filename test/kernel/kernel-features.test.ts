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
  const maps: [string, number][] = [
    ["hash", MapType.hash],
    ["array", MapType.array],
    ["prog_array", MapType.prog_array],
    ["percpu_hash", MapType.percpu_hash],
    ["percpu_array", MapType.percpu_array],
    ["lru_hash", MapType.lru_hash],
    ["lru_percpu_hash", MapType.lru_percpu_hash],
    ["lpm_trie", MapType.lpm_trie],
    ["queue", MapType.queue],
    ["stack", MapType.stack],
    ["ringbuf", MapType.ringbuf],
    ["bloom_filter", MapType.bloom_filter],
  ];
  for (const [name, type] of maps) {
    const tool = probed.map_types[`have_${name}_map_type`];
    assert.equal(probeMapType(sys, type), tool, `map type ${name}`);
  }
  for (const [name, type] of [
    ["xdp", ProgType.xdp],
    ["socket_filter", ProgType.socket_filter],
    ["sched_cls", ProgType.sched_cls],
  ] as const) {
    assert.equal(
      probeProgramType(sys, type),
      probed.program_types[`have_${name}_prog_type`],
      `program type ${name}`,
    );
  }
  assert.equal(probeMapType(sys, 9999), false, "an unknown map type is absent");
  assert.equal(probeProgramType(sys, 9999), false, "an unknown program type is absent");
});

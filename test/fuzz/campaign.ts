import { readFileSync } from "node:fs";
import { repositoryObjects } from "../differential/objects.js";
import { Rng } from "../differential/rng.js";
import { checkBytecode, checkObject, type Finding, fuzzPacket, randomBytecode } from "./harness.js";
import { mutateObject } from "./mutate.js";

/** One finding of a campaign, with everything needed to store it as a regression fixture. */
export interface CampaignFinding extends Finding {
  kind: "object" | "bytecode";
  iteration: number;
  input: Uint8Array;
  packet: Uint8Array;
  how: string;
}

/** Totals of a campaign. */
export interface CampaignResult {
  iterations: number;
  findings: CampaignFinding[];
}

/** The real objects mutated by the ELF/BTF fuzzer. */
export function seedObjects(): { path: string; bytes: Uint8Array }[] {
  return repositoryObjects().map((o) => ({ path: o.path, bytes: new Uint8Array(readFileSync(o.path)) }));
}

/**
 * Mutates real objects `iterations` times (seeded) and checks each through parse, disassembly,
 * VM load and run. Some inputs are pure noise or noise behind a valid ELF header.
 */
export async function objectCampaign(seed: number, iterations: number): Promise<CampaignResult> {
  const rng = new Rng(seed);
  const seeds = seedObjects();
  const findings: CampaignFinding[] = [];
  for (let i = 0; i < iterations; i++) {
    let input: Uint8Array;
    let how: string;
    const shape = rng.int(100);
    if (shape < 3) {
      input = rng.bytes(rng.int(256));
      how = "random bytes";
    } else if (shape < 6) {
      const base = rng.pick(seeds);
      input = new Uint8Array(rng.range(64, 512));
      input.set(base.bytes.subarray(0, 64));
      input.set(rng.bytes(input.length - 64), 64);
      how = `ELF header of ${base.path} + random bytes`;
    } else {
      const base = rng.pick(seeds);
      const m = mutateObject(rng, base.bytes);
      input = m.bytes;
      how = `${base.path}: ${m.mutations.map((x) => `${x.kind} ${x.detail}`).join("; ")}`;
    }
    const packet = fuzzPacket(rng);
    // A crash kills the process before it can report: TSBPF_FUZZ_TRACE names each input first.
    if (process.env.TSBPF_FUZZ_TRACE !== undefined) process.stderr.write(`iteration ${i}: ${how}\n`);
    const f = await checkObject(input, packet);
    if (f !== undefined) findings.push({ ...f, kind: "object", iteration: i, input, packet, how });
  }
  return { iterations, findings };
}

/** Runs `iterations` random bytecode programs (seeded) through VM validation and execution. */
export async function bytecodeCampaign(seed: number, iterations: number): Promise<CampaignResult> {
  const rng = new Rng(seed ^ 0xb17e);
  const findings: CampaignFinding[] = [];
  for (let i = 0; i < iterations; i++) {
    const input = randomBytecode(rng);
    const packet = fuzzPacket(rng);
    const f = await checkBytecode(input, packet);
    if (f !== undefined)
      findings.push({ ...f, kind: "bytecode", iteration: i, input, packet, how: "random bytecode" });
  }
  return { iterations, findings };
}

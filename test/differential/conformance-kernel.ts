import { decodeInstructions, type Instruction } from "../../src/asm/instruction.js";
import { Collection } from "../../src/collection.js";
import { runConformance } from "../../src/vm/conformance.js";
import { conformanceCases } from "../support/shared.js";
import { ins, ldMap, xdpCollection } from "./spec-builder.js";

/** What running the conformance suite on the kernel gave. */
export interface ConformanceOnKernel {
  total: number;
  /** Programs without uBPF test helpers, which the kernel can run at all. */
  candidates: number;
  /** Of those, how many the verifier accepted inside the wrapper. */
  accepted: number;
  compared: number;
  /** `name: vm X, kernel Y` lines. */
  mismatches: string[];
  /** Names the verifier refused, with its first complaint. */
  refused: string[];
}

const isJump = (o: number) => (o & 7) === 0x05 || (o & 7) === 0x06;

/**
 * Wraps a conformance program as an XDP program the kernel can run: a prologue puts the test
 * memory (copied into the packet) in r1 and its length in r2 and zeroes the other registers as
 * the conformance VM does; every `exit` of the main function becomes a jump to an epilogue that
 * stores r0 into an array map and returns XDP_PASS. Subprograms are kept after the epilogue,
 * and every relative jump and call is re-pointed at its moved target.
 */
export function wrapConformance(
  body: Instruction[],
  memLen: number,
): { insns: Instruction[]; mapInsn: number } {
  const n = body.length;
  let mainEnd = n;
  for (let i = 0; i < n; i++) {
    const b = body[i] as Instruction;
    if (b.opcode === 0x85 && b.src === 1) mainEnd = Math.min(mainEnd, i + 1 + b.imm);
  }
  const pro: Instruction[] = [
    ins(0x61, 2, 1, 0), // r2 = ctx->data
    ins(0x61, 3, 1, 4), // r3 = ctx->data_end
  ];
  if (memLen > 0) {
    pro.push(ins(0xbf, 4, 2), ins(0x07, 4, 0, 0, memLen), ins(0xbd, 4, 3, 1), ins(0x05, 0, 0, 0, 0));
    // `if r4 <= r3 goto +1` skips the `ja` placeholder whose target is fixed below (the epilogue).
    pro.push(ins(0xbf, 1, 2), ins(0xb7, 2, 0, 0, memLen));
  } else {
    pro.push(ins(0xb7, 1), ins(0xb7, 2));
  }
  // Registers start at 0 in the conformance VM.
  for (const r of [0, 3, 4, 5, 6, 7, 8, 9]) pro.push(ins(0xb7, r));
  const epi: Instruction[] = [
    ins(0xbf, 6, 0), // r6 = r0
    ins(0x62, 10, 0, -4, 0), // *(u32 *)(r10 - 4) = 0
    ins(0xbf, 2, 10),
    ins(0x07, 2, 0, 0, -4),
    ...ldMap(1),
    ins(0x85, 0, 0, 0, 1), // map_lookup_elem
    ins(0x15, 0, 0, 1, 0), // if r0 == 0 goto +1
    ins(0x7b, 0, 6, 0), // *(u64 *)(r0 + 0) = r6
    ins(0xb7, 0, 0, 0, 2), // XDP_PASS
    ins(0x95),
  ];
  const P = pro.length;
  const epiStart = P + mainEnd;
  const newIndex = (i: number): number => (i < mainEnd ? P + i : P + i + epi.length);
  const out: Instruction[] = [...pro];
  const moved: Instruction[] = body.map((b, i) => {
    const c: Instruction = { ...b };
    const at = newIndex(i);
    if (isJump(b.opcode) && i < mainEnd && b.opcode === 0x95) return ins(0x05, 0, 0, epiStart - (at + 1), 0);
    if (b.opcode === 0x85 && b.src === 1) c.imm = newIndex(i + 1 + b.imm) - (at + 1);
    else if (b.opcode === 0x06) c.imm = newIndex(i + 1 + b.imm) - (at + 1);
    else if (isJump(b.opcode) && b.opcode !== 0x85 && b.opcode !== 0x95 && b.opcode !== 0x8d) {
      c.off = newIndex(i + 1 + b.off) - (at + 1);
    }
    return c;
  });
  out.push(...moved.slice(0, mainEnd), ...epi, ...moved.slice(mainEnd));
  if (memLen > 0) {
    // The bounds-check `ja` in the prologue (index 5) goes to the epilogue's `r0 = 2; exit`.
    out[5] = ins(0x05, 0, 0, epiStart + epi.length - 2 - 6, 0);
  }
  return { insns: out, mapInsn: epiStart + 4 };
}

/** Runs every helper-free conformance program on the kernel (wrapped) and on the VM, and compares r0. */
export async function runConformanceOnKernel(): Promise<ConformanceOnKernel> {
  const cases = conformanceCases();
  const res: ConformanceOnKernel = {
    total: 0,
    candidates: 0,
    accepted: 0,
    compared: 0,
    mismatches: [],
    refused: [],
  };
  if (cases === undefined) return res;
  res.total = cases.length;
  for (const c of cases) {
    const bytes = Uint8Array.from(Buffer.from(c.program_hex, "hex"));
    const mem = Uint8Array.from(Buffer.from(c.mem_hex, "hex"));
    const body = decodeInstructions(bytes);
    if (body.some((b) => (b.opcode === 0x85 && b.src === 0) || b.opcode === 0x8d)) continue;
    res.candidates++;
    const { insns, mapInsn } = wrapConformance(body, mem.length);
    const spec = xdpCollection(
      `conformance/${c.name}`,
      [
        {
          name: "conformance",
          instructions: insns,
          references: [{ insn: mapInsn, kind: "map", map: "result", offset: 0 }],
        },
      ],
      [{ name: "result", type: "array", keySize: 4, valueSize: 8, maxEntries: 1 }],
    );
    let coll: Awaited<ReturnType<typeof Collection.load>>;
    try {
      coll = await Collection.load(spec, { backend: "kernel", onWarning: () => {} });
    } catch (e) {
      res.refused.push(`${c.name}: ${((e as Error).message ?? "").split("\n")[0]}`);
      continue;
    }
    try {
      res.accepted++;
      const pkt = new Uint8Array(Math.max(14, mem.length));
      pkt.set(mem);
      const r = await coll.programs.conformance?.run(pkt);
      const v = coll.maps.result?.get(0);
      if (r === undefined || v === undefined || r.retval !== 2) {
        res.mismatches.push(`${c.name}: the kernel wrapper did not complete (retval ${r?.retval})`);
        continue;
      }
      const kernelR0 = Buffer.from(v).readBigUInt64LE(0);
      let vmR0: string;
      try {
        vmR0 = `0x${runConformance(bytes, mem).toString(16)}`;
      } catch (e) {
        vmR0 = `error ${(e as Error).name}`;
      }
      res.compared++;
      if (vmR0 !== `0x${kernelR0.toString(16)}`) {
        res.mismatches.push(
          `${c.name}: vm ${vmR0}, kernel 0x${kernelR0.toString(16)} (suite expects ${c.result})`,
        );
      }
    } finally {
      coll.close();
    }
  }
  return res;
}

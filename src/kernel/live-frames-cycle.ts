/**
 * The program `tsbpf send` runs for distinct packets (a capture): one BPF_PROG_TEST_RUN in live
 * frames mode repeats a template frame, and this XDP program turns each repetition into the
 * next packet of the capture before returning XDP_TX. The packets sit in an array map (key i + 1:
 * u32 length, then the bytes); key 0 holds the index of the next one, so the turn goes on across
 * runs. Each frame is rewritten whole (bpf_xdp_adjust_tail to the packet's length, then
 * bpf_xdp_store_bytes of its bytes; both 5.18+, as live frames are), so what an earlier frame
 * left on a recycled page does not matter. One syscall then sends a million distinct frames
 * instead of one.
 */
import { HelperId, MapType, ProgType, XdpAction } from "../abi/index.js";
import { assemble } from "../asm/assemble.js";
import { encodeInstructions } from "../asm/instruction.js";
import { LDDW, PseudoLd } from "../asm/opcodes.js";
import type { Fd } from "./fd.js";
import { createMap, updateElem } from "./map-ops.js";
import { loadProgram } from "./program-ops.js";
import type { Sys } from "./sys.js";

/** The longest packet the cycling program writes (longer ones are sent one syscall each). */
export const CYCLE_MAX_FRAME = 2048;

/** A loaded cycling program and the map of its packets: close both when done. */
export interface FrameCycle {
  prog: Fd;
  map: Fd;
  close(): void;
}

/** The program's text: `lddw %r1, 0` lines are the map's fd (patched after assembly). */
function cycleAsm(count: number): string {
  return `
    mov %r6, %r1
    stw [%r10-4], 0
    lddw %r1, 0
    mov %r2, %r10
    add %r2, -4
    call ${HelperId.map_lookup_elem}
    jeq %r0, 0, abort
    ldxw %r7, [%r0]
    mov %r8, %r7
    add %r8, 1
    jlt %r8, ${count}, keep
    mov %r8, 0
  keep:
    stxw [%r0], %r8
    add %r7, 1
    stxw [%r10-4], %r7
    lddw %r1, 0
    mov %r2, %r10
    add %r2, -4
    call ${HelperId.map_lookup_elem}
    jeq %r0, 0, abort
    mov %r9, %r0
    ldxw %r7, [%r9]
    jlt %r7, 1, abort
    jgt %r7, ${CYCLE_MAX_FRAME}, abort
    mov %r1, %r6
    call ${HelperId.xdp_get_buff_len}
    mov %r2, %r7
    sub %r2, %r0
    mov %r1, %r6
    call ${HelperId.xdp_adjust_tail}
    jne %r0, 0, abort
    mov %r1, %r6
    mov %r2, 0
    mov %r3, %r9
    add %r3, 4
    mov %r4, %r7
    call ${HelperId.xdp_store_bytes}
    jne %r0, 0, abort
    mov %r0, ${XdpAction.TX}
    exit
  abort:
    mov %r0, ${XdpAction.ABORTED}
    exit`;
}

/**
 * Loads the cycling program for `packets` (each 14 to {@link CYCLE_MAX_FRAME} bytes; at least
 * one): the map filled, the turn at the first packet.
 */
export function loadFrameCycle(sys: Sys, packets: readonly Uint8Array[]): FrameCycle {
  const map = createMap(sys, {
    type: MapType.array,
    keySize: 4,
    valueSize: 4 + CYCLE_MAX_FRAME,
    maxEntries: packets.length + 1,
    name: "tsbpf_send_pkts",
  });
  try {
    const key = new Uint8Array(4);
    const value = new Uint8Array(4 + CYCLE_MAX_FRAME);
    const kv = new DataView(key.buffer);
    const vv = new DataView(value.buffer);
    for (const [i, p] of packets.entries()) {
      kv.setUint32(0, i + 1, true);
      value.fill(0);
      vv.setUint32(0, p.byteLength, true);
      value.set(p, 4);
      updateElem(sys, map.value, key, value);
    }
    const insns = assemble(cycleAsm(packets.length));
    for (const insn of insns) {
      if (insn.opcode === LDDW) {
        insn.src = PseudoLd.MAP_FD;
        insn.imm = map.value;
        insn.imm64 = BigInt(map.value);
      }
    }
    const prog = loadProgram(sys, {
      type: ProgType.xdp,
      insns: encodeInstructions(insns),
      license: "GPL",
      name: "tsbpf_send_cyc",
    }).fd;
    return {
      prog,
      map,
      close: () => {
        prog.close();
        map.close();
      },
    };
  } catch (e) {
    map.close();
    throw e;
  }
}

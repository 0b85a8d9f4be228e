/**
 * The static frame layout of a linked program and the kernel's rules on it: each subprogram's
 * stack depth, the bpf-to-bpf calls between subprograms, and the walk over every call chain that
 * finds chains too deep, stacks too large, recursion, and tail calls made under 256 bytes or more
 * of caller stack. Pure data in, data out: the VM's load-time validator refuses a program with
 * the first problem, `tsbpf check` reports every tail-call problem as a finding.
 */
import type { Instruction } from "../asm/instruction.js";
import { HelperId } from "../abi/helper-id.js";

/** Per-frame stack size, as in the kernel. */
export const STACK_SIZE = 512;
/** Most frames the kernel allows on a bpf-to-bpf call chain. */
export const MAX_FRAMES = 8;
/** Stack of the calling frames at or above which a subprogram may not make tail calls. */
export const TAIL_CALL_STACK_LIMIT = 256;

/**
 * A frame's stack as the verifier counts it (round_up_stack_depth): rounded up to 16 bytes, as
 * for a program the kernel JIT-compiles. (Its interpreter rounds to 32, but a kernel without the
 * JIT refuses every tail call in a program with bpf-to-bpf calls outright, "tail_calls are not
 * allowed in programs with bpf-to-bpf calls", so the tail-call rule below only ever meets 16.)
 */
export function roundStack(depth: number): number {
  return Math.ceil(depth / 16) * 16;
}

/** A bpf-to-bpf call: instruction `insn` of subprogram `caller` calls subprogram `callee`. */
export interface FrameCall {
  insn: number;
  caller: number;
  callee: number;
}

/** What a program's instructions say about its frames. */
export interface FrameLayout {
  /** First instruction index of each subprogram, ascending; `[0, ...]`. */
  subprograms: number[];
  /** Deepest static r10 offset used by each subprogram, in bytes (parallel to `subprograms`). */
  stackDepth: number[];
  /** Every bpf-to-bpf call whose target is inside the program, in instruction order. */
  calls: FrameCall[];
  /** The `bpf_tail_call` instructions of each subprogram (parallel to `subprograms`). */
  tailCalls: number[][];
}

/** The subprogram (index into `subprograms`, ascending starts) that instruction `insn` belongs to. */
export function subprogramOf(subprograms: readonly number[], insn: number): number {
  let lo = 0;
  let hi = subprograms.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((subprograms[mid] as number) <= insn) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Lays out the frames of `insns`: subprograms start at the targets of bpf-to-bpf calls; a
 * subprogram's stack depth is its deepest r10-relative access or r10-derived pointer
 * (`r2 = r10; r2 += -8`, clang's way of handing a stack buffer to a helper, which the kernel
 * also counts). Tolerates malformed programs (targets out of range are ignored), so it can run
 * on any linked program; the VM validates first.
 */
export function frameLayout(insns: readonly Instruction[]): FrameLayout {
  const n = insns.length;
  const isTarget = new Uint8Array(n + 1);
  const starts = new Set<number>([0]);
  const rawCalls: [insn: number, target: number][] = [];
  for (let i = 0; i < n; i++) {
    const { opcode: op, src, off, imm } = insns[i] as Instruction;
    const c = op & 7;
    if (c !== 0x05 && c !== 0x06) continue;
    const jop = op & 0xf0;
    if (jop !== 0x80 && jop !== 0x90) {
      const t = i + 1 + (op === 0x06 ? imm : off);
      if (t >= 0 && t < n) isTarget[t] = 1;
    } else if (op === 0x85 && src === 1) {
      const t = i + 1 + imm;
      if (t >= 0 && t < n) {
        starts.add(t);
        rawCalls.push([i, t]);
      }
    }
  }
  const subprograms = [...starts].sort((a, b) => a - b);
  const stackDepth = subprograms.map(() => 0);
  const tailCalls: number[][] = subprograms.map(() => []);
  const use = (i: number, depth: number): void => {
    const s = subprogramOf(subprograms, i);
    if (depth > 0 && depth <= STACK_SIZE && depth > (stackDepth[s] as number)) stackDepth[s] = depth;
  };
  // Registers holding r10 plus a known offset.
  const fpOff = new Array<number | undefined>(11).fill(undefined);
  for (let i = 0; i < n; i++) {
    const { opcode: op, dst, src, off, imm } = insns[i] as Instruction;
    if (isTarget[i] === 1) fpOff.fill(undefined);
    switch (op & 7) {
      case 0x00:
        fpOff[dst] = undefined;
        if (op === 0x18) i++;
        break;
      case 0x01:
        if (src === 10) use(i, -off);
        fpOff[dst] = undefined;
        break;
      case 0x02:
        if (dst === 10) use(i, -off);
        break;
      case 0x03:
        if ((op & 0xe0) === 0xc0 && imm === 0x100) {
          // load-acquire reads [src + off] into dst.
          if (src === 10) use(i, -off);
          fpOff[dst] = undefined;
        } else {
          if (dst === 10) use(i, -off);
          // Fetching atomics write the old value back: to r0 for cmpxchg, to src otherwise.
          if ((op & 0xe0) === 0xc0 && (imm & 1) === 1) fpOff[imm === 0xf1 ? 0 : src] = undefined;
        }
        break;
      case 0x04:
      case 0x07: {
        const alu = op & 0xf0;
        const isX = (op & 0x08) !== 0;
        const is64 = (op & 7) === 0x07;
        const base = fpOff[dst];
        fpOff[dst] = undefined;
        if (is64 && alu === 0xb0 && isX && off === 0) {
          fpOff[dst] = src === 10 ? 0 : fpOff[src];
        } else if (is64 && (alu === 0x00 || alu === 0x10) && !isX && base !== undefined) {
          const at = base + (alu === 0x00 ? imm : -imm);
          fpOff[dst] = at;
          if (at < 0) use(i, -at);
        }
        break;
      }
      case 0x05:
      case 0x06:
        if ((op & 0xf0) === 0x80) {
          for (let r = 0; r <= 5; r++) fpOff[r] = undefined;
          if (op === 0x85 && src === 0 && imm === HelperId.tail_call) {
            tailCalls[subprogramOf(subprograms, i)]?.push(i);
          }
        }
        break;
    }
  }
  const index = new Map(subprograms.map((s, k) => [s, k]));
  const calls = rawCalls.map(([insn, t]) => ({
    insn,
    caller: subprogramOf(subprograms, insn),
    callee: index.get(t) as number,
  }));
  return { subprograms, stackDepth, calls, tailCalls };
}

/** One frame of a call chain: a subprogram, its rounded stack, and the call that entered it. */
export interface FrameStep {
  subprogram: number;
  /** The frame's stack as the verifier counts it (rounded). */
  frame: number;
  /** The call instruction that entered this frame; `undefined` for the program's entry. */
  via: number | undefined;
}

/** A rule of the kernel a call chain breaks. `insn` is where the verifier would point. */
export type FrameProblem =
  | { kind: "too-many-frames"; insn: number; frames: number; path: FrameStep[] }
  | { kind: "recursion"; insn: number; callee: number; path: FrameStep[] }
  | { kind: "stack-too-large"; insn: number; bytes: number; path: FrameStep[] }
  /** `path` ends at the tail-calling subprogram; `bytes` is the stack of the frames before it. */
  | { kind: "tail-call-stack"; insn: number; bytes: number; path: FrameStep[] };

/** The result of {@link walkFrames}. */
export interface FrameWalk {
  /** Most frames live at once on the static call graph (1 without bpf-to-bpf calls). */
  maxFrames: number;
  /** Every problem, in the order a depth-first walk from the entry meets them. */
  problems: FrameProblem[];
}

/**
 * Walks every call chain from the entry as the verifier does (check_max_stack_depth): at most
 * {@link MAX_FRAMES} frames, at most {@link STACK_SIZE} bytes of stack together, no recursion,
 * and no tail call in a subprogram whose callers hold {@link TAIL_CALL_STACK_LIMIT} bytes or more
 * (a tail call unwinds only its own frame, so 33 chained calls must fit the kernel stack).
 */
export function walkFrames(layout: FrameLayout): FrameWalk {
  const { subprograms, stackDepth, tailCalls } = layout;
  const callees = subprograms.map(() => new Map<number, number>());
  for (const c of layout.calls) {
    if (!callees[c.caller]?.has(c.callee)) callees[c.caller]?.set(c.callee, c.insn);
  }
  const problems: FrameProblem[] = [];
  let maxFrames = 1;
  const path: FrameStep[] = [];
  const onPath = new Uint8Array(subprograms.length);
  const walk = (s: number, stack: number, site: number, via: number | undefined): void => {
    const frame = roundStack(stackDepth[s] as number);
    const total = stack + frame;
    path.push({ subprogram: s, frame, via });
    try {
      if (path.length > MAX_FRAMES) {
        problems.push({ kind: "too-many-frames", insn: site, frames: path.length, path: [...path] });
        return;
      }
      if (s !== 0 && (tailCalls[s]?.length ?? 0) > 0 && stack >= TAIL_CALL_STACK_LIMIT) {
        problems.push({ kind: "tail-call-stack", insn: site, bytes: stack, path: [...path] });
      }
      if (total > STACK_SIZE) {
        problems.push({ kind: "stack-too-large", insn: site, bytes: total, path: [...path] });
        return;
      }
      if (path.length > maxFrames) maxFrames = path.length;
      onPath[s] = 1;
      for (const [c, at] of callees[s] ?? []) {
        if (onPath[c] === 1) problems.push({ kind: "recursion", insn: at, callee: c, path: [...path] });
        else walk(c, total, at, at);
      }
      onPath[s] = 0;
    } finally {
      path.pop();
    }
  };
  walk(0, 0, 0, undefined);
  return { maxFrames, problems };
}

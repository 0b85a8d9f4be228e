import { NotSupportedError, VerifierError } from "../errors.js";
import { HelperId } from "../abi/helper-id.js";
import type { Instruction } from "../asm/instruction.js";

/**
 * Load-time checks of the VM, a subset of the kernel verifier that needs no data-flow analysis:
 * every opcode known and every unused field zero, registers in range and r10 never written,
 * jumps and calls landing on real instructions of the same subprogram, every subprogram ending
 * in exit or a jump, static stack offsets within 512 bytes, at most 8 frames on the call graph,
 * known helpers. Whatever this cannot prove (pointer arithmetic, dynamic indices) the interpreter
 * checks at run time, so the checks here stay sound: they never reject a program the kernel's
 * semantics could run.
 */

/** Options for {@link validateProgram}. */
export interface ValidateOptions {
  /** Program name, for error context. */
  program?: string;
  /** Whether helper `id` exists; unknown helpers are refused. Default: none exist. */
  hasHelper?: (id: number) => boolean;
  /** Whether to accept `callx` (JMP|CALL|X, helper id in dst), an extension the kernel lacks. */
  allowCallx?: boolean;
}

/** What validation learned about the program's shape. */
export interface ProgramShape {
  /** First instruction index of each subprogram, ascending; `[0, ...]`. */
  subprograms: number[];
  /** Deepest static r10 offset used by each subprogram, in bytes (parallel to `subprograms`). */
  stackDepth: number[];
  /** Most frames live at once on the static call graph (1 without bpf-to-bpf calls). */
  maxFrames: number;
}

/** Per-frame stack size, as in the kernel. */
export const STACK_SIZE = 512;
/** Most frames the kernel allows on a bpf-to-bpf call chain. */
export const MAX_FRAMES = 8;
/** Stack of the calling frames at or above which a subprogram may not make tail calls. */
export const TAIL_CALL_STACK_LIMIT = 256;

/** A frame's stack as the kernel's JIT accounts it: rounded up to 16 bytes. */
export function roundStack(depth: number): number {
  return Math.ceil(depth / 16) * 16;
}

/**
 * `enum bpf_func_id` names by id (1..211), as this project's kernel (6.18) defines them, so
 * that a refused helper is named even when the VM does not implement it.
 */
const KERNEL_HELPER_NAMES: readonly string[] = [
  "unspec",
  ...(
    "map_lookup_elem map_update_elem map_delete_elem probe_read ktime_get_ns trace_printk " +
    "get_prandom_u32 get_smp_processor_id skb_store_bytes l3_csum_replace l4_csum_replace tail_call " +
    "clone_redirect get_current_pid_tgid get_current_uid_gid get_current_comm get_cgroup_classid " +
    "skb_vlan_push skb_vlan_pop skb_get_tunnel_key skb_set_tunnel_key perf_event_read redirect " +
    "get_route_realm perf_event_output skb_load_bytes get_stackid csum_diff skb_get_tunnel_opt " +
    "skb_set_tunnel_opt skb_change_proto skb_change_type skb_under_cgroup get_hash_recalc " +
    "get_current_task probe_write_user current_task_under_cgroup skb_change_tail skb_pull_data " +
    "csum_update set_hash_invalid get_numa_node_id skb_change_head xdp_adjust_head probe_read_str " +
    "get_socket_cookie get_socket_uid set_hash setsockopt skb_adjust_room redirect_map " +
    "sk_redirect_map sock_map_update xdp_adjust_meta perf_event_read_value perf_prog_read_value " +
    "getsockopt override_return sock_ops_cb_flags_set msg_redirect_map msg_apply_bytes msg_cork_bytes " +
    "msg_pull_data bind xdp_adjust_tail skb_get_xfrm_state get_stack skb_load_bytes_relative " +
    "fib_lookup sock_hash_update msg_redirect_hash sk_redirect_hash lwt_push_encap " +
    "lwt_seg6_store_bytes lwt_seg6_adjust_srh lwt_seg6_action rc_repeat rc_keydown skb_cgroup_id " +
    "get_current_cgroup_id get_local_storage sk_select_reuseport skb_ancestor_cgroup_id sk_lookup_tcp " +
    "sk_lookup_udp sk_release map_push_elem map_pop_elem map_peek_elem msg_push_data msg_pop_data " +
    "rc_pointer_rel spin_lock spin_unlock sk_fullsock tcp_sock skb_ecn_set_ce get_listener_sock " +
    "skc_lookup_tcp tcp_check_syncookie sysctl_get_name sysctl_get_current_value sysctl_get_new_value " +
    "sysctl_set_new_value strtol strtoul sk_storage_get sk_storage_delete send_signal " +
    "tcp_gen_syncookie skb_output probe_read_user probe_read_kernel probe_read_user_str " +
    "probe_read_kernel_str tcp_send_ack send_signal_thread jiffies64 read_branch_records " +
    "get_ns_current_pid_tgid xdp_output get_netns_cookie get_current_ancestor_cgroup_id sk_assign " +
    "ktime_get_boot_ns seq_printf seq_write sk_cgroup_id sk_ancestor_cgroup_id ringbuf_output " +
    "ringbuf_reserve ringbuf_submit ringbuf_discard ringbuf_query csum_level skc_to_tcp6_sock " +
    "skc_to_tcp_sock skc_to_tcp_timewait_sock skc_to_tcp_request_sock skc_to_udp6_sock get_task_stack " +
    "load_hdr_opt store_hdr_opt reserve_hdr_opt inode_storage_get inode_storage_delete d_path " +
    "copy_from_user snprintf_btf seq_printf_btf skb_cgroup_classid redirect_neigh per_cpu_ptr " +
    "this_cpu_ptr redirect_peer task_storage_get task_storage_delete get_current_task_btf " +
    "bprm_opts_set ktime_get_coarse_ns ima_inode_hash sock_from_file check_mtu for_each_map_elem " +
    "snprintf sys_bpf btf_find_by_name_kind sys_close timer_init timer_set_callback timer_start " +
    "timer_cancel get_func_ip get_attach_cookie task_pt_regs get_branch_snapshot trace_vprintk " +
    "skc_to_unix_sock kallsyms_lookup_name find_vma loop strncmp get_func_arg get_func_ret " +
    "get_func_arg_cnt get_retval set_retval xdp_get_buff_len xdp_load_bytes xdp_store_bytes " +
    "copy_from_user_task skb_set_tstamp ima_file_hash kptr_xchg map_lookup_percpu_elem " +
    "skc_to_mptcp_sock dynptr_from_mem ringbuf_reserve_dynptr ringbuf_submit_dynptr " +
    "ringbuf_discard_dynptr dynptr_read dynptr_write dynptr_data tcp_raw_gen_syncookie_ipv4 " +
    "tcp_raw_gen_syncookie_ipv6 tcp_raw_check_syncookie_ipv4 tcp_raw_check_syncookie_ipv6 " +
    "ktime_get_tai_ns user_ringbuf_drain cgrp_storage_get cgrp_storage_delete"
  ).split(" "),
];

const helperNames = new Map<number, string>(Object.entries(HelperId).map(([k, v]) => [v, k]));

/** The conventional name of helper `id` ("bpf_map_lookup_elem"), or `helper #id` when unknown. */
export function helperName(id: number): string {
  const n = helperNames.get(id) ?? (id > 0 ? KERNEL_HELPER_NAMES[id] : undefined);
  return n === undefined ? `helper #${id}` : `bpf_${n}`;
}

const ATOMIC_OPS = new Set([0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x100, 0x110]);

/** Validates `insns` (as decoded by `decodeInstructions`) and describes its subprograms. */
export function validateProgram(insns: readonly Instruction[], opts: ValidateOptions = {}): ProgramShape {
  const n = insns.length;
  const ctx = opts.program === undefined ? {} : { program: opts.program };
  const fail = (insn: number, msg: string, hint?: string): never => {
    const e = new VerifierError(msg, hint === undefined ? { ...ctx, insn } : { ...ctx, insn, hint });
    e.log = [`${insn}: ${msg}`];
    throw e;
  };
  if (n === 0) fail(0, "program has no instructions");

  const secondSlot = new Uint8Array(n);
  const subStart = new Set<number>([0]);
  const jumps: [from: number, to: number][] = [];
  const calls: [from: number, to: number][] = [];
  const stackUses: [insn: number, depth: number][] = [];
  const tailCallAt: number[] = [];
  // Registers holding r10 plus a known offset (`r2 = r10; r2 += -8`, clang's way of passing a
  // stack buffer to a helper): the kernel counts what such a pointer reaches as stack depth.
  const fpOff = new Array<number | undefined>(11).fill(undefined);

  const isTarget = new Uint8Array(n + 1);
  for (let i = 0; i < n; i++) {
    const { opcode: op, off, imm } = insns[i] as Instruction;
    const c = op & 7;
    if ((c === 0x05 || c === 0x06) && (op & 0xf0) !== 0x80 && (op & 0xf0) !== 0x90) {
      const t = i + 1 + (op === 0x06 ? imm : off);
      if (t >= 0 && t < n) isTarget[t] = 1;
    }
  }

  for (let i = 0; i < n; i++) {
    const ins = insns[i] as Instruction;
    const { opcode: op, dst, src, off, imm } = ins;
    if (isTarget[i] === 1) fpOff.fill(undefined);
    const cls = op & 7;
    const hex = `0x${op.toString(16).padStart(2, "0")}`;
    if (dst > 10) fail(i, `invalid register r${dst}`);
    if (src > 10) fail(i, `invalid register r${src}`);
    const noWriteR10 = (r: number): void => {
      if (r === 10) fail(i, "frame pointer r10 is read-only");
    };
    const zero = (field: string, v: number): void => {
      if (v !== 0) fail(i, `opcode ${hex}: unused field ${field} is ${v}, must be 0`);
    };
    const unknown = (): never => fail(i, `unknown opcode ${hex}`);
    switch (cls) {
      case 0x00: {
        // LD: only lddw; the packet-access forms are legacy.
        if ((op & 0xe0) === 0x20 || (op & 0xe0) === 0x40) {
          if (op === 0x20 || op === 0x28 || op === 0x30 || op === 0x40 || op === 0x48 || op === 0x50) {
            throw new NotSupportedError(
              `legacy packet load (LD_ABS/LD_IND, opcode ${hex}) is not supported`,
              {
                ...ctx,
                insn: i,
                hint: "use direct packet access (ctx->data) instead",
              },
            );
          }
        }
        if (op !== 0x18) unknown();
        if (i + 1 >= n) fail(i, "lddw is truncated: its second slot is missing");
        zero("offset", off);
        if (src > 6) fail(i, `lddw: unknown pseudo source ${src}`);
        noWriteR10(dst);
        fpOff[dst] = undefined;
        const next = insns[i + 1] as Instruction;
        if (next.opcode !== 0 || next.dst !== 0 || next.src !== 0 || next.off !== 0) {
          fail(i + 1, "lddw: second slot must have opcode, registers and offset zero");
        }
        secondSlot[i + 1] = 1;
        i++;
        break;
      }
      case 0x01: {
        // LDX
        const mode = op & 0xe0;
        if (mode === 0x60) {
          // any size
        } else if (mode === 0x80) {
          if ((op & 0x18) === 0x18) unknown();
        } else unknown();
        zero("imm", imm);
        noWriteR10(dst);
        stackAccess(i, src, off, sizeOf(op));
        fpOff[dst] = undefined;
        break;
      }
      case 0x02: {
        if ((op & 0xe0) !== 0x60) unknown();
        zero("src", src);
        stackAccess(i, dst, off, sizeOf(op));
        break;
      }
      case 0x03: {
        const mode = op & 0xe0;
        if (mode === 0x60) {
          zero("imm", imm);
        } else if (mode === 0xc0) {
          if (!ATOMIC_OPS.has(imm)) fail(i, `unknown atomic operation 0x${(imm >>> 0).toString(16)}`);
          const size = op & 0x18;
          if (imm !== 0x100 && imm !== 0x110 && size !== 0x00 && size !== 0x18) {
            fail(i, "atomic operations need a 32- or 64-bit size");
          }
          if (imm === 0x100) noWriteR10(dst);
          else if (imm & 1 && imm !== 0xf1) noWriteR10(src);
        } else unknown();
        if (imm === 0x100) stackAccess(i, src, off, sizeOf(op));
        else stackAccess(i, dst, off, sizeOf(op));
        break;
      }
      case 0x04:
      case 0x07: {
        const alu = op & 0xf0;
        const isX = (op & 0x08) !== 0;
        const is64 = cls === 0x07;
        if (alu > 0xd0) unknown();
        noWriteR10(dst);
        const base = fpOff[dst];
        fpOff[dst] = undefined;
        if (is64 && alu === 0xb0 && isX && off === 0) {
          fpOff[dst] = src === 10 ? 0 : fpOff[src];
        } else if (is64 && (alu === 0x00 || alu === 0x10) && !isX && base !== undefined) {
          const at = base + (alu === 0x00 ? imm : -imm);
          fpOff[dst] = at;
          if (at < 0 && at >= -STACK_SIZE) stackUses.push([i, -at]);
        }
        if (alu === 0x80) {
          if (isX) unknown();
          zero("src", src);
          zero("offset", off);
          zero("imm", imm);
          break;
        }
        if (alu === 0xd0) {
          if (is64 && isX) unknown();
          zero("src", src);
          zero("offset", off);
          if (imm !== 16 && imm !== 32 && imm !== 64) fail(i, `byte swap width ${imm} is not 16, 32 or 64`);
          break;
        }
        if (isX) zero("imm", imm);
        else zero("src", src);
        if (alu === 0x30 || alu === 0x90) {
          if (off !== 0 && off !== 1)
            fail(i, `opcode ${hex}: offset ${off} must be 0 (unsigned) or 1 (signed)`);
        } else if (alu === 0xb0 && isX) {
          if (off !== 0 && off !== 8 && off !== 16 && !(is64 && off === 32)) {
            fail(i, `opcode ${hex}: sign-extension width ${off} is not allowed`);
          }
        } else zero("offset", off);
        break;
      }
      case 0x05:
      case 0x06: {
        const jop = op & 0xf0;
        const isX = (op & 0x08) !== 0;
        const is32 = cls === 0x06;
        if (jop > 0xd0) unknown();
        if (jop === 0x00) {
          if (isX) unknown();
          zero("src", src);
          zero("dst", dst);
          if (is32) {
            zero("offset", off);
            jumps.push([i, i + 1 + imm]);
          } else {
            zero("imm", imm);
            jumps.push([i, i + 1 + off]);
          }
          break;
        }
        if (jop === 0x80) {
          if (is32) unknown();
          zero("offset", off);
          if (isX) {
            if (!opts.allowCallx) fail(i, "callx (call through a register) is not supported by the kernel");
            zero("src", src);
            zero("imm", imm);
            break;
          }
          zero("dst", dst);
          for (let r = 0; r <= 5; r++) fpOff[r] = undefined;
          if (src === 0) {
            if (imm === HelperId.tail_call) tailCallAt.push(i);
            if (!(opts.hasHelper?.(imm) ?? false)) {
              fail(
                i,
                `call to ${helperName(imm)} (id ${imm}), which the VM does not implement`,
                "run this program with --backend kernel; docs/vm-semantics.md lists the VM's helpers",
              );
            }
          } else if (src === 1) {
            const t = i + 1 + imm;
            if (t < 0 || t >= n) fail(i, `call to insn ${t}, outside the program (0..${n - 1})`);
            subStart.add(t);
            calls.push([i, t]);
          } else if (src === 2) {
            throw new NotSupportedError("kfunc calls are not supported by the VM", { ...ctx, insn: i });
          } else fail(i, `call: unknown source ${src}`);
          break;
        }
        if (jop === 0x90) {
          if (is32 || isX) unknown();
          zero("src", src);
          zero("dst", dst);
          zero("offset", off);
          zero("imm", imm);
          break;
        }
        if (isX) zero("imm", imm);
        else zero("src", src);
        jumps.push([i, i + 1 + off]);
        break;
      }
      default:
        unknown();
    }
  }

  for (const [from, to] of calls) {
    if (secondSlot[to] === 1) fail(from, `call into the middle of lddw at insn ${to - 1}`);
  }
  const subprograms = [...subStart].sort((a, b) => a - b);
  const subOf = (i: number): number => {
    let lo = 0;
    let hi = subprograms.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((subprograms[mid] as number) <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  for (const [from, to] of jumps) {
    if (to < 0 || to >= n) fail(from, `jump to insn ${to}, outside the program (0..${n - 1})`);
    if (secondSlot[to] === 1) fail(from, `jump into the middle of lddw at insn ${to - 1}`);
    if (subOf(from) !== subOf(to)) fail(from, `jump from insn ${from} to insn ${to} leaves its subprogram`);
  }
  for (let s = 0; s < subprograms.length; s++) {
    const end = (s + 1 < subprograms.length ? (subprograms[s + 1] as number) : n) - 1;
    const last = insns[end] as Instruction;
    if (secondSlot[end] === 1 || (last.opcode !== 0x95 && last.opcode !== 0x05 && last.opcode !== 0x06)) {
      fail(
        end,
        "the last instruction of a subprogram must be exit or a jump",
        "execution would fall off the end",
      );
    }
  }

  // Static stack depth and call graph.
  const depth = new Array<number>(subprograms.length).fill(0);
  for (const [i, d] of stackUses) {
    const s = subOf(i);
    if (d > (depth[s] as number)) depth[s] = d;
  }
  const callees = subprograms.map(() => new Set<number>());
  const callSite = subprograms.map(() => new Map<number, number>());
  for (const [from, to] of calls) {
    const a = subOf(from);
    const b = subOf(to);
    callees[a]?.add(b);
    if (!callSite[a]?.has(b)) callSite[a]?.set(b, from);
  }
  const hasTailCall = subprograms.map(() => false);
  for (const at of tailCallAt) hasTailCall[subOf(at)] = true;
  let maxFrames = 1;
  const onPath = new Uint8Array(subprograms.length);
  const walk = (s: number, frames: number, stack: number, site: number): void => {
    // The kernel rounds each frame to 16 bytes when the program is JIT-compiled (always on
    // x86-64 and arm64), to 32 for its interpreter; this VM follows the JIT.
    const frame = roundStack(depth[s] as number);
    const total = stack + frame;
    if (frames > MAX_FRAMES)
      fail(site, `the call chain is ${frames} frames deep; at most ${MAX_FRAMES} are allowed`);
    // A tail call unwinds only its own frame; the frames above stay, so the kernel limits them
    // (check_max_stack_depth_subprog) to keep 33 chained calls within the kernel stack.
    if (s !== 0 && hasTailCall[s] === true && stack >= TAIL_CALL_STACK_LIMIT) {
      fail(
        site,
        `tail_calls are not allowed when call stack of previous frames is ${stack} bytes. Too large`,
        `the subprogram at insn ${subprograms[s]} makes a tail call; keep the stack of its callers under ${TAIL_CALL_STACK_LIMIT} bytes`,
      );
    }
    if (total > STACK_SIZE) {
      fail(
        site,
        `combined stack size of the call chain is ${total} bytes; at most ${STACK_SIZE} are allowed`,
      );
    }
    if (frames > maxFrames) maxFrames = frames;
    onPath[s] = 1;
    for (const c of callees[s] ?? []) {
      const at = callSite[s]?.get(c) ?? site;
      if (onPath[c] === 1) fail(at, `recursive call to the subprogram at insn ${subprograms[c]}`);
      walk(c, frames + 1, total, at);
    }
    onPath[s] = 0;
  };
  walk(0, 1, 0, 0);
  return { subprograms, stackDepth: depth, maxFrames };

  function stackAccess(i: number, base: number, off: number, size: number): void {
    if (base !== 10) return;
    if (off >= 0 || off < -STACK_SIZE || off + size > 0) {
      fail(
        i,
        `invalid stack access at r10${off >= 0 ? "+" : ""}${off} of ${size} bytes`,
        "the stack is r10-512 to r10",
      );
    }
    stackUses.push([i, -off]);
  }
}

function sizeOf(op: number): number {
  switch (op & 0x18) {
    case 0x00:
      return 4;
    case 0x08:
      return 2;
    case 0x10:
      return 1;
    default:
      return 8;
  }
}

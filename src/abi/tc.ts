import { nameLookup } from "./names.js";
import { ProgType } from "./prog-type.js";
import { xdpActionName } from "./xdp.js";

/**
 * `TC_ACT_*` (include/uapi/linux/pkt_cls.h): what a tc (`sched_cls`) program returns. Keys drop
 * the `TC_ACT_` prefix; `UNSPEC` is -1, which a run reports as the u32 0xffffffff.
 */
export const TcAction = {
  UNSPEC: -1,
  OK: 0,
  RECLASSIFY: 1,
  SHOT: 2,
  PIPE: 3,
  STOLEN: 4,
  QUEUED: 5,
  REPEAT: 6,
  REDIRECT: 7,
  TRAP: 8,
} as const;

/**
 * `SKB_MAX_ALLOC` on x86-64 (4 KiB pages): `(PAGE_SIZE << 2) - SKB_DATA_ALIGN(sizeof(struct
 * skb_shared_info))`, the most bytes bpf_skb_change_head/change_tail/adjust_room let a (non-GSO)
 * skb hold, and so the largest packet a tc test run can hand back.
 */
export const SKB_MAX_ALLOC = 16384 - 320;

/**
 * `BPF_F_ADJ_ROOM_*` and `BPF_ADJ_ROOM_*` (include/uapi/linux/bpf.h): bpf_skb_adjust_room's flags
 * and modes. `ENCAP_L2_SHIFT` places the inner MAC header length (`BPF_F_ADJ_ROOM_ENCAP_L2(len)`).
 */
export const AdjRoom = {
  FIXED_GSO: 1n << 0n,
  ENCAP_L3_IPV4: 1n << 1n,
  ENCAP_L3_IPV6: 1n << 2n,
  ENCAP_L4_GRE: 1n << 3n,
  ENCAP_L4_UDP: 1n << 4n,
  NO_CSUM_RESET: 1n << 5n,
  ENCAP_L2_ETH: 1n << 6n,
  DECAP_L3_IPV4: 1n << 7n,
  DECAP_L3_IPV6: 1n << 8n,
  ENCAP_L2_MASK: 0xffn,
  ENCAP_L2_SHIFT: 56n,
  MODE_NET: 0,
  MODE_MAC: 1,
} as const;

/** `sizeof(struct __sk_buff)`: the context of skb programs, and of their test runs' ctx_in/ctx_out. */
export const SK_BUFF_SIZE = 192;

const tcActionNames = nameLookup(TcAction, "TC_ACT_");

/** `TC_ACT_SHOT` for 2 (`TC_ACT_UNSPEC` for -1 or 0xffffffff); `undefined` for other values. */
export function tcActionName(action: number): string | undefined {
  return tcActionNames(action === 0xffffffff ? -1 : action);
}

/**
 * The name of a program's return value for its type: XDP actions for XDP, `TC_ACT_*` for tc
 * (`sched_cls`, `sched_act`); `undefined` where the type has no named verdicts or the value is
 * none of them. One place, so run, stats and demo name verdicts alike on both engines.
 */
export function verdictNameFor(type: number, retval: number): string | undefined {
  if (type === ProgType.xdp) return xdpActionName(retval);
  if (type === ProgType.sched_cls || type === ProgType.sched_act) return tcActionName(retval);
  return undefined;
}

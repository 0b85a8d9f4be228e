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

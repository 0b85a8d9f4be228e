import { nameLookup } from "./names.js";

/**
 * `enum bpf_func_id`: the helper a `call` instruction with `src = 0` invokes. Only the helpers
 * tsbpf refers to by name are listed (the VM's, and the ones the loader and hints look for);
 * names drop the `bpf_` prefix, as bpftool's `BPF_FUNC_*` list does.
 */
export const HelperId = {
  map_lookup_elem: 1,
  map_update_elem: 2,
  map_delete_elem: 3,
  ktime_get_ns: 5,
  trace_printk: 6,
  get_prandom_u32: 7,
  get_smp_processor_id: 8,
  skb_store_bytes: 9,
  l3_csum_replace: 10,
  l4_csum_replace: 11,
  tail_call: 12,
  redirect: 23,
  perf_event_output: 25,
  skb_load_bytes: 26,
  csum_diff: 28,
  get_hash_recalc: 34,
  skb_change_tail: 38,
  skb_pull_data: 39,
  skb_change_head: 43,
  xdp_adjust_head: 44,
  skb_adjust_room: 50,
  redirect_map: 51,
  xdp_adjust_meta: 54,
  xdp_adjust_tail: 65,
  strtol: 105,
  probe_read_kernel: 113,
  strtoul: 106,
  ktime_get_boot_ns: 125,
  ringbuf_output: 130,
  ringbuf_reserve: 131,
  ringbuf_submit: 132,
  ringbuf_discard: 133,
  ringbuf_query: 134,
  trace_vprintk: 177,
  xdp_get_buff_len: 188,
  xdp_store_bytes: 190,
} as const;

const helperNames = nameLookup(HelperId);

/** The name of helper `id` (`tail_call`), or `undefined` when tsbpf does not name it. */
export function helperName(id: number): string | undefined {
  return helperNames(id);
}

/** The helpers behind `bpf_printk`: what writes a trace line. */
export const PRINTK_HELPERS: ReadonlySet<number> = new Set([HelperId.trace_printk, HelperId.trace_vprintk]);

/** The helpers that move an XDP packet's bounds, after which packet pointers must be re-checked. */
export const XDP_ADJUST_HELPERS: ReadonlySet<number> = new Set([
  HelperId.xdp_adjust_head,
  HelperId.xdp_adjust_meta,
  HelperId.xdp_adjust_tail,
]);

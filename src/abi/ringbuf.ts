/**
 * The ring buffer's shared layout (include/uapi/linux/bpf.h, kernel/bpf/ringbuf.c): what a
 * producer writes and a consumer reads, on the VM's model and in a kernel map's mmap()ed pages.
 */

/** Size of a record header: u32 length (with the busy and discard bits) and u32 page offset. */
export const RINGBUF_HDR_SZ = 8;
/** Set in a header's length while the record is reserved and not yet submitted or discarded. */
export const RINGBUF_BUSY_BIT = 0x80000000;
/** Set in a header's length when the record was discarded; consumers skip it. */
export const RINGBUF_DISCARD_BIT = 0x40000000;
/** `bpf_ringbuf_output`/`submit` flags: `BPF_RB_NO_WAKEUP`, `BPF_RB_FORCE_WAKEUP`. */
export const RingbufFlags = { NO_WAKEUP: 1n, FORCE_WAKEUP: 2n } as const;
/** `bpf_ringbuf_query` selectors (`BPF_RB_AVAIL_DATA`...). */
export const RingbufQuery = { AVAIL_DATA: 0n, RING_SIZE: 1n, CONS_POS: 2n, PROD_POS: 3n } as const;

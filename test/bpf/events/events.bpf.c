// SPDX-License-Identifier: GPL-2.0
/*
 * Producers for the event reader tests and the consumer benchmark (test/events/ and
 * test/kernel/ event tests, bench/events-bench.ts). Each XDP program reads what to emit from
 * the packet: u32 record size, u32 records per run; every record starts with a u64 sequence
 * number (one counter for all programs) and its u32 size, so a reader can prove nothing was
 * lost or duplicated. Records the producer could not write are counted in `drops`.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define MAX_RECORD 8192
#define MAX_PER_RUN 256

struct event {
	__u64 seq;
	__u32 size;
	__u32 cpu;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16384);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} perf SEC(".maps");

/* No max_entries: sized to the possible CPUs at load, as libbpf does. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
} perf_unsized SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[MAX_RECORD]);
} scratch SEC(".maps");

__u64 next_seq = 0;
__u64 drops = 0;
/* Keeps struct event in BTF for typed readers. */
struct event *unused_event __attribute__((unused));

struct cfg {
	__u32 size;
	__u32 count;
};

static __always_inline int read_cfg(struct xdp_md *ctx, struct cfg *c)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if (data + sizeof(*c) > end)
		return -1;
	__builtin_memcpy(c, data, sizeof(*c));
	if (c->size < sizeof(struct event))
		c->size = sizeof(struct event);
	if (c->size > MAX_RECORD - 1)
		c->size = MAX_RECORD - 1;
	if (c->count > MAX_PER_RUN)
		c->count = MAX_PER_RUN;
	return 0;
}

/* The size masked where the verifier sees it (clang would drop a plain `& 8191` after the clamp). */
static __always_inline __u64 bounded(__u32 size)
{
	__u64 sz = size;
	asm volatile("%0 &= 8191" : "+r"(sz));
	return sz;
}

static __always_inline void *fill(__u32 size)
{
	__u32 zero = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	e->seq = __sync_fetch_and_add(&next_seq, 1);
	e->size = size;
	e->cpu = bpf_get_smp_processor_id();
	return e;
}

/* `count` records of `size` bytes into the ring buffer with bpf_ringbuf_output. */
SEC("xdp")
int rb_emit(struct xdp_md *ctx)
{
	struct cfg c;
	if (read_cfg(ctx, &c))
		return XDP_ABORTED;
	for (__u32 i = 0; i < MAX_PER_RUN; i++) {
		if (i >= c.count)
			break;
		void *e = fill(c.size);
		if (!e)
			return XDP_ABORTED;
		if (bpf_ringbuf_output(&rb, e, bounded(c.size), 0))
			__sync_fetch_and_add(&drops, 1);
	}
	return XDP_PASS;
}

/* `count` fixed-size records reserved in place; every odd sequence number is discarded. */
SEC("xdp")
int rb_discard(struct xdp_md *ctx)
{
	struct cfg c;
	if (read_cfg(ctx, &c))
		return XDP_ABORTED;
	for (__u32 i = 0; i < MAX_PER_RUN; i++) {
		if (i >= c.count)
			break;
		struct event *e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
		if (!e) {
			__sync_fetch_and_add(&drops, 1);
			continue;
		}
		e->seq = __sync_fetch_and_add(&next_seq, 1);
		e->size = sizeof(*e);
		e->cpu = bpf_get_smp_processor_id();
		if (e->seq & 1)
			bpf_ringbuf_discard(e, 0);
		else
			bpf_ringbuf_submit(e, 0);
	}
	return XDP_PASS;
}

/* `count` records of `size` bytes into this CPU's perf buffer. */
SEC("xdp")
int perf_emit(struct xdp_md *ctx)
{
	struct cfg c;
	if (read_cfg(ctx, &c))
		return XDP_ABORTED;
	for (__u32 i = 0; i < MAX_PER_RUN; i++) {
		if (i >= c.count)
			break;
		void *e = fill(c.size);
		if (!e)
			return XDP_ABORTED;
		if (bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, e, bounded(c.size)))
			__sync_fetch_and_add(&drops, 1);
	}
	return XDP_PASS;
}

/* One fixed event into the perf event array declared without max_entries. */
SEC("xdp")
int perf_unsized_emit(struct xdp_md *ctx)
{
	struct event e = { .seq = 42, .size = sizeof(e) };

	bpf_perf_event_output(ctx, &perf_unsized, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return XDP_PASS;
}

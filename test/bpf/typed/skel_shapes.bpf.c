// SPDX-License-Identifier: GPL-2.0
/*
 * Shapes a generated skeleton must type beyond typed.bpf.c (test/gen/skeleton.test.ts): a ring
 * buffer whose record type only locals use, kept in BTF by an unused global pointer (what README,
 * "Skeletons", tells users to do); an enum with a 64-bit value; an anonymous enum; a typedef of an
 * anonymous struct; names long enough that the generated code has to break lines; a prog array
 * of tc programs next to an XDP one, so that an XDP program does not fit it; and a map of maps.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

enum event_kind { EVENT_SMALL = 1, EVENT_LARGE = 2 };
enum wide_flags { WIDE_LOW = 1, WIDE_HIGH = 0x100000000ULL };

struct event {
	__u32 len;
	enum event_kind kind;
	__u64 seq;
	char tag[4];
};

/* The record type: only local variables use it, so this keeps it in BTF for --type events=event. */
struct event *unused_event __attribute__((unused));

typedef struct {
	__u16 lo;
	__u16 hi;
	enum { RANGE_OPEN = 0, RANGE_CLOSED = 1 } state;
} port_range_t;

struct an_uncommonly_long_struct_name_that_makes_generated_type_arguments_overflow_a_line {
	__u64 a_member_with_a_name_that_is_also_rather_long_for_a_c_program;
	enum wide_flags flags;
	port_range_t range;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, port_range_t);
	__type(value, struct an_uncommonly_long_struct_name_that_makes_generated_type_arguments_overflow_a_line);
} ranges_by_port_with_a_long_map_name SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} inner_template SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} tc_jumps SEC(".maps");

const volatile enum event_kind min_kind = EVENT_SMALL;
__u64 seq;

SEC("xdp")
int emit(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	struct event e = {};
	port_range_t key = { .lo = len & 0xff, .hi = 0 };

	e.len = len;
	e.kind = len > 100 ? EVENT_LARGE : EVENT_SMALL;
	e.seq = ++seq;
	e.tag[0] = 'x';
	if (e.kind >= min_kind)
		bpf_ringbuf_output(&events, &e, sizeof(e), 0);
	if (bpf_map_lookup_elem(&ranges_by_port_with_a_long_map_name, &key))
		return XDP_DROP;
	return XDP_PASS;
}

SEC("tc")
int tc_entry(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &tc_jumps, 0);
	return TC_ACT_OK;
}

SEC("tc")
int tc_stage(struct __sk_buff *skb)
{
	return TC_ACT_SHOT;
}

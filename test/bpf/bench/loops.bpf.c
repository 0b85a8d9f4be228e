// SPDX-License-Identifier: GPL-2.0
/*
 * Loop-heavy XDP programs for the interpreter benchmark (bench/run.ts): each one executes
 * thousands of instructions per packet, so the time per run divided by the instructions
 * executed gives the interpreter's cost per instruction. Inputs come from the packet so clang
 * cannot fold the loops away; every program returns XDP_PASS or XDP_DROP from its result so
 * the work is observable.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define SUM_BYTES 1024
#define ALU_ROUNDS 1000
#define LOOKUP_ROUNDS 256

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} table SEC(".maps");

/* Sums the first SUM_BYTES bytes of the packet, one bounds-checked load at a time. */
SEC("xdp")
int sum_bytes(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *data_end = (void *)(long)ctx->data_end;
	__u64 sum = 0;

	for (int i = 0; i < SUM_BYTES; i++) {
		if (data + i + 1 > data_end)
			break;
		sum += data[i];
	}
	return (sum & 1) ? XDP_DROP : XDP_PASS;
}

/* ALU_ROUNDS rounds of 64-bit xorshift, multiply, add and 32-bit mixing. */
SEC("xdp")
int alu_mix(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *data_end = (void *)(long)ctx->data_end;
	if (data + 8 > data_end)
		return XDP_ABORTED;
	__u64 x = *(__u64 *)data | 1;
	__u32 y = 0x9e3779b9;

	for (int i = 0; i < ALU_ROUNDS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		x = x * 0x2545f491 + i;
		y = (y ^ (__u32)x) * 31 + (y >> 3);
	}
	return ((x ^ y) & 1) ? XDP_DROP : XDP_PASS;
}

/* LOOKUP_ROUNDS array-map lookups at keys taken from the packet, summing the values. */
SEC("xdp")
int map_lookups(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *data_end = (void *)(long)ctx->data_end;
	if (data + 1 > data_end)
		return XDP_ABORTED;
	__u32 key = data[0];
	__u64 sum = 0;

	for (int i = 0; i < LOOKUP_ROUNDS; i++) {
		__u32 k = (key + i) & 63;
		__u64 *v = bpf_map_lookup_elem(&table, &k);
		if (v)
			sum += *v + 1;
	}
	return (sum & 1) ? XDP_DROP : XDP_PASS;
}

// SPDX-License-Identifier: GPL-2.0
// tsbpf-cflags: -target bpfeb
/*
 * Object-model fixture, built big-endian (bpfeb): several programs in one section, .text subprograms shared by two
 * programs (one calling another), a callback passed by address, global data of every kind,
 * a static prog array and a hash-of-maps with static `.values`, and BTF of many kinds.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [2] = &inner_a, [5] = &inner_b },
};

int stage_a(struct xdp_md *ctx);
int stage_b(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} jump SEC(".maps") = {
	.values = { [1] = (void *)&stage_a, [3] = (void *)&stage_b },
};

enum color { RED = 1, GREEN = -2, BLUE = 70000 };

struct counters {
	__u64 packets;
	unsigned int flag : 1;
	unsigned int kind : 5;
	enum color color;
	float ratio;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 128);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);
	__type(value, struct counters);
} tsbpf_objstats SEC(".maps");

const volatile __u32 limit = 7;
const char banner[] = "tsbpf linking fixture";
__u64 hits = 3;
__u32 seen;
static __u32 scratch[4];
__u32 tagged __attribute__((btf_decl_tag("user"))) SEC(".data.tagged") = 9;
int __attribute__((btf_type_tag("kptr"))) *tag_ptr;

char LICENSE[] SEC("license") = "Dual MIT/GPL";

static __noinline int add_limit(int x)
{
	scratch[x & 3] += x;
	return x + limit;
}

static __noinline int bump(int x)
{
	hits++;
	return add_limit(x) * 2;
}

__noinline int global_helper(int x)
{
	return x ^ (int)seen;
}

static long loop_cb(__u32 i, void *data)
{
	*(int *)data += i;
	return 0;
}

SEC("xdp")
int stage_a(struct xdp_md *ctx)
{
	int v = bump(ctx->ingress_ifindex);
	bpf_printk("stage a %d", v);
	return v > 100 ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int stage_b(struct xdp_md *ctx)
{
	int acc = 0;
	bpf_loop(4, loop_cb, &acc, 0);
	bpf_trace_printk("literal %d\n", sizeof("literal %d\n"), acc);
	seen = acc + global_helper(ctx->rx_queue_index);
	bpf_tail_call(ctx, &jump, 1);
	return add_limit(seen) & 1 ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int classify(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct counters *c = bpf_map_lookup_elem(&tsbpf_objstats, &key);
	if (c)
		c->packets += tagged;
	return bump(skb->len) + banner[skb->len & 15];
}

// Tail-call edge cases compared between the VM and the kernel (test/kernel/vm-vs-kernel-tail.test.ts).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

/* Slots: 0 self_chain, 1 empty_then_self, 2 sub_self, 3..7 filled by the tests. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 8);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} jmp SEC(".maps");

/* A second prog array, so one program uses several. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} jmp2 SEC(".maps");

/* Counters: 0 self_chain runs, 1 empty_then_self runs, 2 sub_self runs, 3 target runs,
 * 4 deep-frame runs, 5 mixed runs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline void bump(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&counts, &i);
	if (v)
		*v += 1;
}

/* The first payload byte of the packet (after 14 bytes of Ethernet), or 0xff. */
static __always_inline __u32 pkt_key(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	if (data + 15 > end)
		return 0xff;
	return data[14];
}

/* Tail-calls itself through slot 0 until the kernel's limit stops it: 34 runs per packet. */
SEC("xdp")
int self_chain(struct xdp_md *ctx)
{
	bump(0);
	bpf_tail_call(ctx, &jmp, 0);
	return XDP_DROP;
}

/* Tries an empty slot, an out-of-range slot and a computed (packet) slot before itself. */
SEC("xdp")
int empty_then_self(struct xdp_md *ctx)
{
	bump(1);
	bpf_tail_call(ctx, &jmp, 7);
	bpf_tail_call(ctx, &jmp, 1000);
	bpf_tail_call(ctx, &jmp2, 1);
	bpf_tail_call(ctx, &jmp, pkt_key(ctx));
	bpf_tail_call(ctx, &jmp, 1);
	return XDP_TX;
}

/* A subprogram that uses its own stack, then tail-calls through a computed slot. */
static __noinline int sub_tail(struct xdp_md *ctx, __u32 key)
{
	volatile __u32 buf[16];
	for (int i = 0; i < 16; i++)
		buf[i] = key + i;
	bpf_tail_call(ctx, &jmp, key);
	return 100 + buf[key & 15];
}

/* Caller with stack in use below the subprogram: the target's return value comes back here. */
SEC("xdp")
int sub_caller(struct xdp_md *ctx)
{
	volatile __u32 mine[8];
	__u32 key = pkt_key(ctx);
	for (int i = 0; i < 8; i++)
		mine[i] = 1000 * (i + 1);
	int r = sub_tail(ctx, key);
	return r + mine[key & 7];
}

static __noinline int sub_bump_self(struct xdp_md *ctx)
{
	volatile __u64 pad[4];
	pad[0] = 1;
	bump(2);
	bpf_tail_call(ctx, &jmp, 2);
	return 50 + pad[0];
}

/* Slot 2: each run calls a subprogram that tail-calls back here, so the chain's count is
 * shared across frames. */
SEC("xdp")
int sub_self(struct xdp_md *ctx)
{
	volatile __u64 pad[2];
	pad[1] = 3;
	return sub_bump_self(ctx) + pad[1];
}

/* Alternates a tail call from the main frame and one from a subprogram, through jmp2. */
static __noinline int mixed_sub(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp2, 0);
	return 9;
}

SEC("xdp")
int mixed(struct xdp_md *ctx)
{
	__u32 k = 5;
	__u64 *v = bpf_map_lookup_elem(&counts, &k);
	if (!v)
		return XDP_ABORTED;
	*v += 1;
	if (*v & 1)
		bpf_tail_call(ctx, &jmp2, 0);
	return mixed_sub(ctx) + 20;
}

/* Targets the tests put into slots. */
SEC("xdp")
int target_a(struct xdp_md *ctx)
{
	bump(3);
	return 7;
}

SEC("xdp")
int target_b(struct xdp_md *ctx)
{
	bump(3);
	return 8;
}

/* Not XDP: prog arrays owned by XDP programs refuse it. */
SEC("tc")
int tc_prog(struct __sk_buff *skb)
{
	return 0;
}

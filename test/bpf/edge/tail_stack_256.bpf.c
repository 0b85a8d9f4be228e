// Rejected by both: the caller of a tail-calling subprogram holds exactly 256 bytes (refused: the limit is inclusive) of stack.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} jmp SEC(".maps");

static __noinline int sub_tail(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp, 0);
	return 1;
}

SEC("xdp")
int edge_caller(struct xdp_md *ctx)
{
	volatile char buf[256];
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	if (data + 1 > end)
		return 0;
	__u32 i = data[0] % 256;
	buf[i] = 1;
	buf[239] = 2;
	return sub_tail(ctx) + buf[i];
}

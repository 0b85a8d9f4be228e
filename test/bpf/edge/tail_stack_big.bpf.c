// Rejected by the kernel verifier and by the VM: a tail call from a subprogram whose caller
// holds more than 256 bytes of stack.
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
int big_caller(struct xdp_md *ctx)
{
	volatile char buf[300];
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	if (data + 1 > end)
		return 0;
	__u32 i = data[0] % 300;
	buf[i] = 1;
	buf[299] = 2;
	return sub_tail(ctx) + buf[i];
}

// Programs the kernel verifier would refuse but the VM loads, to check its run-time faults
// (test/vm/collection.test.ts): an unchecked packet read and a loop over the packet.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

SEC("xdp")
int oob_read(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	return data[100];
}

SEC("xdp")
int printer(struct xdp_md *ctx)
{
	bpf_printk("hello %d", ctx->ingress_ifindex);
	return XDP_PASS;
}

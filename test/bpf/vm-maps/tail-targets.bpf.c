// Two trivial programs of different types, used as prog-array values when the VM's maps are
// compared with the kernel's: the first one inserted makes its type the array's owner type.
#include <linux/bpf.h>

#define SEC(name) __attribute__((section(name), used))

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("socket")
int sock_keep(struct __sk_buff *skb)
{
	return 0;
}

char _license[] SEC("license") = "GPL";

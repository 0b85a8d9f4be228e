// SPDX-License-Identifier: GPL-2.0
/* A program in a section libbpf's table does not know: the object model keeps it as an
 * `unspec` program and the kernel backend must refuse it by name. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("xdp")
int known(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("weird/thing")
int odd(void *ctx)
{
	return 0;
}

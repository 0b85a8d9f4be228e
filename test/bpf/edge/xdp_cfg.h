// The config and result maps of the XDP helper fixtures (xdp_helpers.bpf.c, xdp_meta.bpf.c),
// compared between the VM and the kernel (test/kernel/vm-vs-kernel-xdp.test.ts).
#ifndef XDP_CFG_H
#define XDP_CFG_H
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* cfg[0] head delta, [1] meta delta, [2] tail delta, [3] redirect ifindex, [4] redirect flags. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __s64);
} cfg SEC(".maps");

/* res[0..2] adjust_head/meta/tail results, [3] meta bytes written, [4] csum_diff result,
 * [5] packet length seen at the end. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __s64);
} res SEC(".maps");

static __always_inline __s64 get(__u32 k)
{
	__s64 *v = bpf_map_lookup_elem(&cfg, &k);
	return v ? *v : 0;
}

static __always_inline void put(__u32 k, __s64 x)
{
	__s64 *v = bpf_map_lookup_elem(&res, &k);
	if (v)
		*v = x;
}

#endif

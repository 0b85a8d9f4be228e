// Each run inserts a hash element under a new key, writes through the pointer a lookup gives,
// and deletes it again: with --repeat, every iteration looks up a different element. The VM
// must not keep one memory region per element for the whole call (test/vm/collection.test.ts).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} churn SEC(".maps");

__u32 next_key;
__u64 written;

SEC("xdp")
int churn_values(struct xdp_md *ctx)
{
	__u32 key = next_key++;
	__u64 zero = 0;
	if (bpf_map_update_elem(&churn, &key, &zero, BPF_NOEXIST))
		return XDP_ABORTED;
	__u64 *v = bpf_map_lookup_elem(&churn, &key);
	if (!v)
		return XDP_ABORTED;
	*v = key;
	written += *v;
	bpf_map_delete_elem(&churn, &key);
	return XDP_PASS;
}

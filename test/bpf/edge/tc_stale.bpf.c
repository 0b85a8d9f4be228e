// A tc program that keeps a packet pointer across bpf_skb_pull_data: the kernel's verifier
// refuses it (packet pointers are invalidated by the call), and the VM faults when the stale
// pointer is used (test/kernel/vm-vs-kernel-tc.test.ts).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

SEC("tc")
int stale(struct __sk_buff *s)
{
	__u8 *data = (void *)(long)s->data;
	void *end = (void *)(long)s->data_end;
	if ((void *)(data + 14) > end)
		return 0;
	bpf_skb_pull_data(s, 0);
	return data[12];
}

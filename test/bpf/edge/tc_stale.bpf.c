// tc programs that keep a packet pointer across a helper that may change the packet: the
// kernel's verifier refuses them (packet pointers are invalidated by the call), and the VM faults
// when the stale pointer is used (test/kernel/vm-vs-kernel-tc.test.ts).
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

SEC("tc")
int stale_store(struct __sk_buff *s)
{
	__u8 *data = (void *)(long)s->data;
	void *end = (void *)(long)s->data_end;
	__u8 b = 7;
	if ((void *)(data + 14) > end)
		return 0;
	bpf_skb_store_bytes(s, 0, &b, 1, 0);
	return data[12];
}

SEC("tc")
int stale_csum(struct __sk_buff *s)
{
	__u8 *data = (void *)(long)s->data;
	void *end = (void *)(long)s->data_end;
	if ((void *)(data + 34) > end)
		return 0;
	bpf_l3_csum_replace(s, 24, 1, 2, 2);
	return data[12];
}

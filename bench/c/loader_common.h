/* SPDX-License-Identifier: MIT */
/*
 * What bench/c/loader.c and bench/c/loader_skel.c share: the clock, libbpf's quiet printer, a
 * prog-array slot filled with a program, the interface attached to (resolved in the attach
 * phase, as tsbpf's attachXdp({ iface }) does: both pay for the socket and ioctl behind it), and
 * the JSON line bench/loader-bench.ts reads.
 */
#ifndef TSBPF_BENCH_LOADER_COMMON_H
#define TSBPF_BENCH_LOADER_COMMON_H

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

/* CLOCK_MONOTONIC nanoseconds, the clock Node's process.hrtime uses. */
static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Warnings only: libbpf's debug chatter would cost time and is not part of the job. */
static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

/* Puts program `p` into slot `key` of prog array `map`; -1 with a message when it cannot. */
static int fill_slot(const char *who, struct bpf_map *map, __u32 key, struct bpf_program *p)
{
	int fd = p ? bpf_program__fd(p) : -1;

	if (fd < 0) {
		fprintf(stderr, "%s: no program for slot %u\n", who, key);
		return -1;
	}
	if (bpf_map_update_elem(bpf_map__fd(map), &key, &fd, BPF_ANY)) {
		perror(who);
		return -1;
	}
	return 0;
}

/* Attaches `p` to interface `iface` as XDP through a bpf_link; NULL with a message when not. */
static struct bpf_link *attach_iface(const char *who, struct bpf_program *p, const char *iface)
{
	unsigned int ifindex = if_nametoindex(iface);
	struct bpf_link *link;

	if (ifindex == 0) {
		perror(who);
		return NULL;
	}
	link = bpf_program__attach_xdp(p, (int)ifindex);
	if (!link)
		perror(who);
	return link;
}

/* The phases as one JSON line on stdout. */
static void print_phases(long long t0, long long t_open, long long t_load, long long t_slots,
			 long long t_attached)
{
	printf("{\"open_ns\":%lld,\"load_ns\":%lld,\"slots_ns\":%lld,\"attach_ns\":%lld,"
	       "\"main_to_attached_ns\":%lld,\"attached_at_ns\":%lld}\n",
	       t_open - t0, t_load - t_open, t_slots - t_load, t_attached - t_slots, t_attached - t0,
	       t_attached);
	fflush(stdout);
}

#endif

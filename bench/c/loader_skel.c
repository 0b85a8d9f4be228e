// SPDX-License-Identifier: MIT
/*
 * The skeleton path of tsbpf's loader benchmark on libbpf: the same job as bench/c/loader.c,
 * through the skeleton `bpftool gen skeleton tail_call.bpf.o name tail_call` writes (the object
 * embedded in it, as tsbpf's tail_call.skel.ts embeds it). Open and load (tail_call__open_and_load
 * in two steps, so each is timed), fill the prog array's two slots, attach main_prog as XDP
 * through a bpf_link, print the timings as one JSON line, detach and exit.
 *
 *   bpftool gen skeleton tail_call.bpf.o name tail_call > DIR/tail_call.skel.h
 *   cc -O2 -IDIR bench/c/loader_skel.c -lbpf -lelf -lz -o loader_skel
 *   loader_skel IFACE
 *
 * Times are CLOCK_MONOTONIC nanoseconds, as in loader.c.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include "tail_call.skel.h"

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

static int fill_slot(struct bpf_map *map, __u32 key, struct bpf_program *p)
{
	int fd = bpf_program__fd(p);

	if (fd < 0 || bpf_map_update_elem(bpf_map__fd(map), &key, &fd, BPF_ANY)) {
		perror("loader_skel: bpf_map_update_elem");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long long t0 = now_ns();

	if (argc != 2) {
		fprintf(stderr, "usage: loader_skel IFACE\n");
		return 2;
	}
	libbpf_set_print(quiet);

	struct tail_call *skel = tail_call__open();
	if (!skel) {
		perror("loader_skel: tail_call__open");
		return 1;
	}
	long long t_open = now_ns();
	if (tail_call__load(skel)) {
		perror("loader_skel: tail_call__load");
		return 1;
	}
	long long t_load = now_ns();

	if (fill_slot(skel->maps.prog_array, 0, skel->progs.port8080_prog) ||
	    fill_slot(skel->maps.prog_array, 1, skel->progs.port22_prog))
		return 1;
	long long t_slots = now_ns();

	/* The interface's name is resolved in the attach phase, as tsbpf's attach({ iface }) does. */
	unsigned int ifindex = if_nametoindex(argv[1]);
	if (ifindex == 0) {
		perror("loader_skel: if_nametoindex");
		return 1;
	}
	skel->links.main_prog = bpf_program__attach_xdp(skel->progs.main_prog, (int)ifindex);
	if (!skel->links.main_prog) {
		perror("loader_skel: bpf_program__attach_xdp");
		return 1;
	}
	long long t_attached = now_ns();

	printf("{\"open_ns\":%lld,\"load_ns\":%lld,\"slots_ns\":%lld,\"attach_ns\":%lld,"
	       "\"main_to_attached_ns\":%lld,\"attached_at_ns\":%lld}\n",
	       t_open - t0, t_load - t_open, t_slots - t_load, t_attached - t_slots, t_attached - t0,
	       t_attached);
	fflush(stdout);

	tail_call__destroy(skel);
	return 0;
}

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
#include "loader_common.h"
#include "tail_call.skel.h"

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

	if (fill_slot("loader_skel", skel->maps.prog_array, 0, skel->progs.port8080_prog) ||
	    fill_slot("loader_skel", skel->maps.prog_array, 1, skel->progs.port22_prog))
		return 1;
	long long t_slots = now_ns();

	skel->links.main_prog = attach_iface("loader_skel", skel->progs.main_prog, argv[1]);
	if (!skel->links.main_prog)
		return 1;
	long long t_attached = now_ns();

	print_phases(t0, t_open, t_load, t_slots, t_attached);

	tail_call__destroy(skel);
	return 0;
}

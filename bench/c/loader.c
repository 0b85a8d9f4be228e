// SPDX-License-Identifier: MIT
/*
 * The reference for tsbpf's loader benchmark: the same job as examples/tail-call/loader.ts,
 * done with libbpf. It opens and loads an object, puts two programs into a prog array, attaches
 * the dispatcher to an interface as XDP through a bpf_link, prints its own timings as one JSON
 * line on stdout, detaches and exits. No trace reading: only load-to-attached is measured.
 *
 *   cc -O2 bench/c/loader.c -lbpf -lelf -lz -o loader
 *   loader OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG
 *
 * Times are CLOCK_MONOTONIC nanoseconds, the clock Node's process.hrtime uses, so the parent can
 * compute "spawned -> attached" from `attached_at_ns`.
 */
#include "loader_common.h"

int main(int argc, char **argv)
{
	long long t0 = now_ns();

	if (argc != 7) {
		fprintf(stderr, "usage: loader OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG\n");
		return 2;
	}
	libbpf_set_print(quiet);

	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		perror("loader: bpf_object__open_file");
		return 1;
	}
	long long t_open = now_ns();
	if (bpf_object__load(obj)) {
		perror("loader: bpf_object__load");
		return 1;
	}
	long long t_load = now_ns();

	struct bpf_map *map = bpf_object__find_map_by_name(obj, argv[4]);
	struct bpf_program *main_prog = bpf_object__find_program_by_name(obj, argv[3]);
	if (!map || !main_prog) {
		fprintf(stderr, "loader: no map %s or program %s\n", argv[4], argv[3]);
		return 1;
	}
	if (fill_slot("loader", map, 0, bpf_object__find_program_by_name(obj, argv[5])) ||
	    fill_slot("loader", map, 1, bpf_object__find_program_by_name(obj, argv[6])))
		return 1;
	long long t_slots = now_ns();

	struct bpf_link *link = attach_iface("loader", main_prog, argv[2]);
	if (!link)
		return 1;
	long long t_attached = now_ns();

	print_phases(t0, t_open, t_load, t_slots, t_attached);

	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}

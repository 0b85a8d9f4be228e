// SPDX-License-Identifier: MIT
/*
 * The reference for tsbpf's event reader benchmark: libbpf's ring_buffer__consume on the same
 * pinned ring buffer, filled by the same pinned producer (test/bpf/events/events.bpf.o, rb_emit)
 * with BPF_PROG_TEST_RUN. For each trial it fills the ring with `records` records of `size`
 * bytes, then times one ring_buffer__consume() that reads them all, checking that the sequence
 * numbers follow each other. Prints one JSON line per trial.
 *
 *   cc -O2 bench/c/ringbuf_consumer.c -lbpf -lelf -lz -o ringbuf_consumer
 *   ringbuf_consumer MAP_PIN PROG_PIN SIZE RECORDS TRIALS
 *   ringbuf_consumer produce PROG_PIN SIZE RECORDS     (the producer alone, for a concurrent reader)
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct state {
	unsigned long long next;
	unsigned long long count;
	unsigned long long errors;
	int first;
};

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct state *s = ctx;
	unsigned long long seq;

	memcpy(&seq, data, sizeof(seq));
	if (!s->first && seq != s->next)
		s->errors++;
	s->first = 0;
	s->next = seq + 1;
	s->count++;
	return 0;
}

/* Runs the producer for `records` records in test runs of 256 records, 64 runs at a time. */
static int produce(const char *prog_pin, unsigned int size, unsigned long long records)
{
	int prog_fd = bpf_obj_get(prog_pin);
	unsigned char pkt[64] = { 0 };
	unsigned int per_run = 256;

	if (prog_fd < 0) {
		fprintf(stderr, "cannot open the program's pin\n");
		return 1;
	}
	memcpy(pkt, &size, 4);
	memcpy(pkt + 4, &per_run, 4);
	for (unsigned long long done = 0; done < records; done += 64 * per_run) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt), .repeat = 64);
		if (bpf_prog_test_run_opts(prog_fd, &opts)) {
			fprintf(stderr, "test run failed\n");
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "produce") == 0)
		return produce(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 10));
	if (argc != 6) {
		fprintf(stderr, "usage: %s MAP_PIN PROG_PIN SIZE RECORDS TRIALS\n", argv[0]);
		return 2;
	}
	int map_fd = bpf_obj_get(argv[1]);
	int prog_fd = bpf_obj_get(argv[2]);
	unsigned int size = atoi(argv[3]);
	unsigned long long records = strtoull(argv[4], NULL, 10);
	int trials = atoi(argv[5]);
	if (map_fd < 0 || prog_fd < 0) {
		fprintf(stderr, "cannot open the pins\n");
		return 1;
	}
	struct state s = { .first = 1 };
	struct ring_buffer *rb = ring_buffer__new(map_fd, on_record, &s, NULL);
	if (!rb) {
		fprintf(stderr, "ring_buffer__new failed\n");
		return 1;
	}
	unsigned char pkt[64] = { 0 };
	unsigned int per_run = 256;
	memcpy(pkt, &size, 4);
	memcpy(pkt + 4, &per_run, 4);
	for (int t = 0; t < trials; t++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt),
			    .repeat = (unsigned int)(records / per_run));
		if (bpf_prog_test_run_opts(prog_fd, &opts)) {
			fprintf(stderr, "test run failed\n");
			return 1;
		}
		s.count = 0;
		long long t0 = now_ns();
		int n = ring_buffer__consume(rb);
		long long t1 = now_ns();
		if (n < 0) {
			fprintf(stderr, "ring_buffer__consume failed: %d\n", n);
			return 1;
		}
		printf("{\"records\":%llu,\"ns\":%lld,\"seqErrors\":%llu}\n", s.count, t1 - t0, s.errors);
	}
	ring_buffer__free(rb);
	return 0;
}

/* The communicator (src/parallel/comm.h). Run alone it is a world of one: collectives are identities and
 * point to point aborts the process. Under `mpirun -np N` every rank runs the same checks against values
 * computed here independently of MPI (tests/test_comm.py runs it with 2 and 4 ranks and across two
 * network namespaces). LOOM_TEST_COMM_FAULT=hang:R, kill:R or term:R makes world rank R stop
 * answering, SIGKILL itself or SIGTERM itself after the first collective (the fault tests). */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "parallel/comm.h"

static loom_comm *world;
static int rank, size;

/* A value no two (rank, i) share, and that float sums keep exact (small multiples of 0.5). */
static float sum_term(int r, size_t i) { return (float)((r + 1) * (int)(i % 1000 + 1)) * 0.5f; }
/* Large (beyond 32 bits), signed, and not monotonic in the rank. */
static int64_t minmax_term(int r, size_t i) {
    return ((int64_t)((r * 7919 + (int)i * 31) % 1009) - 500) * ((int64_t)1 << 40) + r;
}
static uint8_t byte_term(int r, size_t i) { return (uint8_t)(r * 37 + i * 13 + 1); }

static void test_world_shape(void) {
    const char *launched = getenv("OMPI_COMM_WORLD_SIZE");
    CHECK(size == (launched ? atoi(launched) : 1));
    CHECK(rank >= 0 && rank < size);
#ifdef LOOM_HAVE_MPI
    CHECK(parallel_built_with_mpi() == 1);
#else
    CHECK(parallel_built_with_mpi() == 0);
#endif
    loom_error err = {0};
    loom_status st = comm_init(NULL, NULL, &err); /* idempotent */
    CHECK(st == LOOM_OK);
}

static void test_allreduce_sum_f32(void) {
    const size_t lengths[] = {0, 1, 7, 1000, 300000};
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        size_t n = lengths[k];
        float *buf = malloc((n + 1) * sizeof *buf);
        for (size_t i = 0; i < n; i++) buf[i] = sum_term(rank, i);
        comm_allreduce_sum_f32(world, buf, n);
        size_t wrong = 0;
        for (size_t i = 0; i < n; i++) {
            float expected = 0;
            for (int r = 0; r < size; r++) expected += sum_term(r, i);
            wrong += buf[i] != expected;
        }
        CHECK_MSG(wrong == 0, "n=%zu: %zu of the sums differ", n, wrong);
        free(buf);
    }
}

/* Inexact float sums (the order of additions matters): every rank must still get bit-identical
 * results, close to a float64 reference, on both the small-message and the large-message path. */
static void test_allreduce_identical_on_every_rank(void) {
    const size_t lengths[] = {3, 600, 5000, 200000};
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        size_t n = lengths[k];
        float *buf = malloc(n * sizeof *buf), *all = malloc((size_t)size * n * sizeof *all);
        for (size_t i = 0; i < n; i++) buf[i] = sinf((float)(i * 7 + (size_t)rank * 13 + 1)) * 1e3f / (float)(rank + 3);
        comm_allreduce_sum_f32(world, buf, n);
        size_t far = 0;
        for (size_t i = 0; i < n; i++) {
            double want = 0;
            for (int r = 0; r < size; r++) want += sinf((float)(i * 7 + (size_t)r * 13 + 1)) * 1e3f / (float)(r + 3);
            far += fabs(buf[i] - want) > 1e-4 * size;
        }
        CHECK_MSG(far == 0, "n=%zu: %zu sums off the float64 reference by more than 1e-4 x ranks", n, far);
        comm_gather(world, buf, n * sizeof *buf, all, 0);
        if (rank == 0)
            for (int r = 1; r < size; r++)
                CHECK_MSG(memcmp(all, all + (size_t)r * n, n * sizeof *buf) == 0, "n=%zu: rank %d differs from rank 0",
                          n, r);
        free(buf);
        free(all);
    }
}

static void test_allreduce_min_max_i64(void) {
    enum { N = 257 };
    int64_t lo[N], hi[N];
    for (size_t i = 0; i < N; i++) lo[i] = hi[i] = minmax_term(rank, i);
    comm_allreduce_min_i64(world, lo, N);
    comm_allreduce_max_i64(world, hi, N);
    int wrong = 0;
    for (size_t i = 0; i < N; i++) {
        int64_t want_lo = minmax_term(0, i), want_hi = want_lo;
        for (int r = 1; r < size; r++) {
            int64_t v = minmax_term(r, i);
            if (v < want_lo) want_lo = v;
            if (v > want_hi) want_hi = v;
        }
        wrong += lo[i] != want_lo || hi[i] != want_hi;
    }
    CHECK_MSG(wrong == 0, "%d of %d min/max wrong", wrong, N);
}

static void test_bcast_from_every_root(void) {
    const size_t lengths[] = {3, 1 << 20};
    for (size_t k = 0; k < 2; k++) {
        size_t n = lengths[k];
        uint8_t *buf = malloc(n);
        for (int root = 0; root < size; root++) {
            for (size_t i = 0; i < n; i++) buf[i] = rank == root ? byte_term(root, i) : 0xEE;
            comm_bcast(world, buf, n, root);
            size_t wrong = 0;
            for (size_t i = 0; i < n; i++) wrong += buf[i] != byte_term(root, i);
            CHECK_MSG(wrong == 0, "root %d, %zu bytes: %zu wrong", root, n, wrong);
        }
        free(buf);
    }
}

static void test_gather_in_rank_order(void) {
    enum { BYTES = 5 };
    int roots[2] = {0, size - 1};
    for (int k = 0; k < 2; k++) {
        uint8_t send[BYTES], *recv = malloc((size_t)size * BYTES);
        memset(recv, 0xEE, (size_t)size * BYTES);
        for (size_t i = 0; i < BYTES; i++) send[i] = byte_term(rank, i);
        comm_gather(world, send, BYTES, recv, roots[k]);
        if (rank == roots[k]) {
            int wrong = 0;
            for (int r = 0; r < size; r++)
                for (size_t i = 0; i < BYTES; i++) wrong += recv[(size_t)r * BYTES + i] != byte_term(r, i);
            CHECK_MSG(wrong == 0, "gather to %d: %d bytes wrong", roots[k], wrong);
        } else {
            CHECK(recv[0] == 0xEE); /* untouched off the root */
        }
        free(recv);
    }
}

/* Every rank sends to the next and receives from the previous one (a ring), with isend so no rank
 * blocks before its receive is posted. */
static void test_send_recv_ring(void) {
    if (size < 2) return;
    enum { N = 100000 };
    int next = (rank + 1) % size, prev = (rank + size - 1) % size;
    uint8_t *out = malloc(N), *in = malloc(N);
    for (size_t i = 0; i < N; i++) out[i] = byte_term(rank, i);
    loom_comm_req *req = comm_isend(world, out, N, next, 7);
    comm_recv(world, in, N, prev, 7);
    comm_wait(req);
    size_t wrong = 0;
    for (size_t i = 0; i < N; i++) wrong += in[i] != byte_term(prev, i);
    CHECK_MSG(wrong == 0, "%zu bytes from rank %d wrong", wrong, prev);
    free(out);
    free(in);
}

/* Rank 0 sends tag 2, then tag 1, then three messages with tag 3; rank 1 receives tag 1 first (tags
 * select across order) and the tag-3 messages in sending order (MPI does not let them overtake). */
static void test_tags_and_ordering(void) {
    if (size < 2 || rank > 1) return;
    int32_t values[5] = {200, 100, 31, 32, 33};
    const int tags[5] = {2, 1, 3, 3, 3};
    if (rank == 0) {
        loom_comm_req *reqs[5];
        for (int k = 0; k < 5; k++) reqs[k] = comm_isend(world, &values[k], sizeof values[k], 1, tags[k]);
        for (int k = 4; k >= 0; k--) comm_wait(reqs[k]);
        return;
    }
    int32_t got[5];
    comm_recv(world, &got[1], sizeof got[1], 0, 1);
    comm_recv(world, &got[0], sizeof got[0], 0, 2);
    for (int k = 2; k < 5; k++) comm_recv(world, &got[k], sizeof got[k], 0, 3);
    for (int k = 0; k < 5; k++) CHECK_MSG(got[k] == values[k], "message %d: %d, expected %d", k, got[k], values[k]);
}

/* Tensor-parallel-like groups (consecutive pairs) and pipeline-like groups (same parity, ordered by a
 * descending key): sizes, ranks, and that collectives stay inside the group. */
static void test_split_groups(void) {
    loom_error err = {0};
    loom_comm *pairs = NULL, *parity = NULL;
    CHECK(comm_split(world, rank / 2, rank, &pairs, &err) == LOOM_OK);
    CHECK(comm_split(world, rank % 2, -rank, &parity, &err) == LOOM_OK);
    if (!pairs || !parity) return;

    int pair_size = size - rank / 2 * 2 < 2 ? 1 : 2;
    CHECK(comm_size(pairs) == pair_size);
    CHECK(comm_rank(pairs) == rank % 2);
    float member_sum = (float)rank;
    comm_allreduce_sum_f32(pairs, &member_sum, 1);
    float want = 0;
    for (int r = rank / 2 * 2; r < rank / 2 * 2 + pair_size; r++) want += (float)r;
    CHECK_NEAR(member_sum, want, 0);

    int parity_size = (size - rank % 2 + 1) / 2;
    CHECK(comm_size(parity) == parity_size);
    CHECK(comm_rank(parity) == (size - 1 - rank) / 2);
    int32_t *ranks = malloc((size_t)parity_size * sizeof *ranks), mine = rank;
    comm_gather(parity, &mine, sizeof mine, ranks, 0);
    if (comm_rank(parity) == 0) {
        int wrong = 0, expected = size - 1 - ((size - 1 - rank % 2) % 2); /* highest rank of my parity */
        for (int k = 0; k < parity_size; k++, expected -= 2) wrong += ranks[k] != expected;
        CHECK_MSG(wrong == 0, "parity group order wrong at %d places", wrong);
    }
    free(ranks);
    comm_free(pairs);
    comm_free(parity);
}

static void test_negative_color_refused(void) {
    loom_error err = {0};
    loom_comm *g = NULL;
    CHECK(comm_split(world, -1, 0, &g, &err) == LOOM_ERR_INVALID_ARG);
    CHECK(g == NULL);
    CHECK(strstr(err.message, "color -1") != NULL);
}

/* Rank 0 arrives 100 ms late at a barrier: the others wait, and that time shows in comm_seconds. */
static void test_seconds_accounting(void) {
    double before = comm_seconds();
    if (rank == 0) nanosleep(&(struct timespec){0, 100000000L}, NULL);
    comm_barrier(world);
    double waited = comm_seconds() - before;
    CHECK(waited >= 0);
    if (rank != 0) CHECK_MSG(waited >= 0.08, "waited %.3f s inside the barrier", waited);
}

/* A follower idles in comm_bcast_idle past the deadline of ordinary operations (0.5 s here) while
 * rank 0 takes 1 s to send the next command: no abort, the value arrives, and the idle time is not
 * counted as communication. */
static void test_bcast_idle_has_no_deadline(void) {
    comm_set_timeout(0.5);
    int64_t command = rank == 0 ? 424242 : -1;
    double before = comm_seconds();
    if (rank == 0) nanosleep(&(struct timespec){1, 0}, NULL);
    comm_bcast_idle(world, &command, sizeof command, 0);
    CHECK(command == 424242);
    CHECK_MSG(comm_seconds() - before < 0.25, "%.3f s counted", comm_seconds() - before);
    comm_set_timeout(60);
}

static void test_bad_timeout_env_refused(void) {
    setenv("LOOM_COMM_TIMEOUT_S", "soon", 1);
    loom_error err = {0};
    CHECK(comm_init(NULL, NULL, &err) == LOOM_ERR_INVALID_ARG);
    CHECK(strstr(err.message, "LOOM_COMM_TIMEOUT_S=soon") != NULL);
    unsetenv("LOOM_COMM_TIMEOUT_S");
    CHECK(comm_init(NULL, NULL, &err) == LOOM_OK);
}

/* Without a launcher there is no peer: a send ends the process with one line naming it. Checked in a
 * child process (only in a world of one: an MPI process must not fork). */
static void test_send_without_peer_aborts(void) {
    if (size != 1) return;
    int pipe_fds[2];
    CHECK(pipe(pipe_fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipe_fds[1], STDERR_FILENO);
        char byte = 1;
        comm_send(world, &byte, 1, 0, 5);
        _exit(0); /* not reached when the send aborts as it must */
    }
    close(pipe_fds[1]);
    char line[512] = {0};
    size_t got = 0;
    ssize_t n;
    while (got < sizeof line - 1 && (n = read(pipe_fds[0], line + got, sizeof line - 1 - got)) > 0) got += (size_t)n;
    close(pipe_fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    CHECK_MSG(strstr(line, "loom: rank 0: send") && strstr(line, "no other rank exists"), "stderr: %s", line);
}

/* LOOM_TEST_COMM_FAULT=hang:R / kill:R / term:R: world rank R stops answering / dies / gets the
 * SIGTERM a launcher sends when it ends the job. */
static void inject_fault(void) {
    const char *fault = getenv("LOOM_TEST_COMM_FAULT");
    if (!fault) return;
    const char *colon = strchr(fault, ':');
    if (!colon || atoi(colon + 1) != rank) return;
    if (strncmp(fault, "kill:", 5) == 0) raise(SIGKILL);
    if (strncmp(fault, "term:", 5) == 0) raise(SIGTERM);
    if (strncmp(fault, "hang:", 5) == 0)
        for (;;) pause();
}

int main(int argc, char **argv) {
    loom_error err = {0};
    if (comm_init(&argc, &argv, &err) != LOOM_OK) {
        fprintf(stderr, "loom_parallel_init: %s\n", err.message);
        return 1;
    }
    world = comm_world();
    rank = comm_rank(world);
    size = comm_size(world);
    RUN(test_world_shape);
    RUN(test_allreduce_sum_f32);
    inject_fault();
    RUN(test_allreduce_identical_on_every_rank);
    RUN(test_allreduce_min_max_i64);
    RUN(test_bcast_from_every_root);
    RUN(test_gather_in_rank_order);
    RUN(test_send_recv_ring);
    RUN(test_tags_and_ordering);
    RUN(test_split_groups);
    RUN(test_negative_color_refused);
    RUN(test_seconds_accounting);
    RUN(test_bcast_idle_has_no_deadline);
    RUN(test_bad_timeout_env_refused);
    RUN(test_send_without_peer_aborts);
    int failed = check_summary();
    comm_finalize();
    return failed;
}

/* The engine through loom.h on the real stories260K model: abort mid-generation frees every block and
 * leaves the other requests' outputs unchanged; the engine thread gives the same outputs as stepping;
 * n = 2 samples forked from one prompt (copy-on-write KV) equal two separate seeded requests. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "loom.h"

#define MAX_REQ 8
#define MAX_OUT 64

typedef struct collected {
    int32_t ids[2][MAX_OUT];
    int32_t n[2];
    loom_finish_reason finish[2];
    int events;
} collected;

static pthread_mutex_t collect_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_output(const loom_output *out, void *user) {
    collected *c = user;
    pthread_mutex_lock(&collect_lock);
    for (int32_t i = 0; i < out->n_new && c->n[out->seq_index] < MAX_OUT; i++)
        c->ids[out->seq_index][c->n[out->seq_index]++] = out->new_ids[i];
    if (out->finish_reason != LOOM_FINISH_NONE) c->finish[out->seq_index] = out->finish_reason;
    c->events++;
    pthread_mutex_unlock(&collect_lock);
}

/* A model under ../shared/models. */
static loom_model *load_shared(const char *rel) {
    char path[512];
    snprintf(path, sizeof path, "%s/models/%s", check_shared_dir(), rel);
    loom_model_params mp = loom_model_default_params();
    mp.path = path;
    loom_model *m = NULL;
    loom_error err = {0};
    CHECK_MSG(loom_model_load(&mp, &m, &err) == LOOM_OK, "%s", err.message);
    return m;
}

static loom_model *load_stories(void) { return load_shared("stories260K/hf"); }

static const char *const prompts[] = {"Once upon a time",     "The cat sat",    "Lily wanted to",
                                      "Tom and his dog went", "A big red ball", "One day, a bird"};
#define N_PROMPTS 6

static uint64_t add(loom_engine *e, loom_model *m, const char *text, loom_request_params rp, collected *c) {
    int32_t *ids = NULL;
    size_t n = 0;
    loom_error err = {0};
    CHECK(loom_tokenize(m, text, strlen(text), 1, &ids, &n, &err) == LOOM_OK);
    rp.prompt_ids = ids;
    rp.n_prompt = n;
    rp.on_output = on_output;
    rp.user = c;
    uint64_t id = 0;
    CHECK_MSG(loom_engine_add_request(e, &rp, &id, &err) == LOOM_OK, "%s", err.message);
    free(ids);
    return id;
}

static loom_request_params greedy(int32_t max_tokens) {
    loom_request_params rp = loom_request_default_params();
    rp.sampling.temperature = 0;
    rp.max_tokens = max_tokens;
    rp.ignore_eos = 1;
    return rp;
}

static loom_engine *make_engine(loom_model *m, int32_t num_kv_blocks) {
    loom_engine_params p = loom_engine_default_params();
    p.n_threads = 2;
    p.num_kv_blocks = num_kv_blocks;
    p.max_model_len = 192; /* fits the smallest pool used here: 12 blocks x 16 */
    loom_engine *e = NULL;
    loom_error err = {0};
    CHECK_MSG(loom_engine_create(m, &p, &e, &err) == LOOM_OK, "%s", err.message);
    return e;
}

static void run_all(loom_engine *e) {
    loom_error err = {0};
    while (loom_engine_has_work(e)) CHECK_MSG(loom_engine_step(e, &err) == LOOM_OK, "%s", err.message);
}

static void reference_run(loom_model *m, collected *ref) {
    loom_engine *e = make_engine(m, 64);
    for (int i = 0; i < N_PROMPTS; i++) add(e, m, prompts[i], greedy(40), &ref[i]);
    run_all(e);
    loom_engine_free(e);
}

static void test_abort_frees_blocks_and_keeps_others(void) {
    loom_model *m = load_stories();
    if (!m) return;
    collected ref[N_PROMPTS] = {0}, got[N_PROMPTS] = {0};
    reference_run(m, ref);
    loom_engine *e = make_engine(m, 64);
    if (!e) return;
    uint64_t ids[N_PROMPTS];
    for (int i = 0; i < N_PROMPTS; i++) ids[i] = add(e, m, prompts[i], greedy(40), &got[i]);
    loom_error err = {0};
    for (int s = 0; s < 10; s++) CHECK(loom_engine_step(e, &err) == LOOM_OK);
    loom_engine_metrics mid;
    loom_engine_get_metrics(e, &mid);
    CHECK(mid.kv_blocks_free < mid.kv_blocks_total); /* something holds KV mid-generation */
    CHECK(loom_engine_abort(e, ids[2], &err) == LOOM_OK);
    run_all(e);
    loom_engine_metrics end;
    loom_engine_get_metrics(e, &end);
    CHECK_MSG(end.kv_blocks_free == end.kv_blocks_total, "%d of %d blocks free", end.kv_blocks_free,
              end.kv_blocks_total);
    CHECK(got[2].finish[0] == LOOM_FINISH_ABORT);
    CHECK(got[2].n[0] > 0 && got[2].n[0] < 40);
    for (int i = 0; i < N_PROMPTS; i++) {
        if (i == 2) continue;
        CHECK(got[i].finish[0] == LOOM_FINISH_LENGTH && got[i].n[0] == 40);
        CHECK_MSG(memcmp(got[i].ids[0], ref[i].ids[0], sizeof ref[i].ids[0]) == 0, "request %d differs after the abort",
                  i);
    }
    CHECK(loom_engine_abort(e, ids[2], &err) == LOOM_ERR_INVALID_ARG); /* finished */
    CHECK(loom_engine_abort(e, 999999, &err) == LOOM_ERR_INVALID_ARG); /* unknown */
    loom_engine_free(e);
    loom_model_free(m);
}

/* An abort that arrives before the request was ever scheduled, and one during a tiny pool's preemption. */
static void test_abort_waiting_and_preempted(void) {
    loom_model *m = load_stories();
    if (!m) return;
    loom_engine *e = make_engine(m, 12);
    if (!e) return;
    collected got[N_PROMPTS] = {0};
    uint64_t ids[N_PROMPTS];
    for (int i = 0; i < N_PROMPTS; i++) ids[i] = add(e, m, prompts[i], greedy(40), &got[i]);
    loom_error err = {0};
    CHECK(loom_engine_abort(e, ids[5], &err) == LOOM_OK);
    for (int s = 0; s < 30; s++) CHECK(loom_engine_step(e, &err) == LOOM_OK);
    CHECK(loom_engine_abort(e, ids[0], &err) == LOOM_OK);
    run_all(e);
    loom_engine_metrics end;
    loom_engine_get_metrics(e, &end);
    CHECK(end.num_preemptions_total >= 1);
    CHECK(end.kv_blocks_free == end.kv_blocks_total);
    CHECK(got[5].finish[0] == LOOM_FINISH_ABORT && got[5].n[0] == 0);
    CHECK(got[0].finish[0] == LOOM_FINISH_ABORT);
    for (int i = 1; i < 5; i++) CHECK(got[i].n[0] == 40);
    loom_engine_free(e);
    loom_model_free(m);
}

static void test_engine_thread_matches_stepping(void) {
    loom_model *m = load_stories();
    if (!m) return;
    collected ref[N_PROMPTS] = {0}, got[N_PROMPTS] = {0};
    reference_run(m, ref);
    loom_engine *e = make_engine(m, 64);
    loom_error err = {0};
    CHECK(loom_engine_start(e, &err) == LOOM_OK);
    for (int i = 0; i < N_PROMPTS; i++) add(e, m, prompts[i], greedy(40), &got[i]);
    for (int wait_ms = 0; loom_engine_has_work(e) && wait_ms < 60000; wait_ms += 5) usleep(5000);
    CHECK(loom_engine_step(e, &err) == LOOM_ERR_INVALID_ARG); /* the thread owns the steps */
    loom_engine_stop(e);
    for (int i = 0; i < N_PROMPTS; i++)
        CHECK_MSG(got[i].n[0] == 40 && memcmp(got[i].ids[0], ref[i].ids[0], sizeof ref[i].ids[0]) == 0, "request %d",
                  i);
    loom_engine_free(e);
    loom_model_free(m);
}

/* n = 2 shares the prompt's KV (fork + copy-on-write); sample k uses seed + k, so it must equal a
 * separate n = 1 request seeded with seed + k. */
static void test_parallel_samples_equal_separate_requests(void) {
    loom_model *m = load_stories();
    if (!m) return;
    loom_request_params sp = greedy(30);
    sp.sampling.temperature = 1.0f;
    sp.sampling.has_seed = 1;
    sp.sampling.seed = 77;
    loom_engine *e = make_engine(m, 64);
    collected pair = {0}, one[2];
    memset(one, 0, sizeof one);
    sp.n = 2;
    add(e, m, "Once upon a time there was a", sp, &pair);
    run_all(e);
    sp.n = 1;
    add(e, m, "Once upon a time there was a", sp, &one[0]);
    sp.sampling.seed = 78;
    add(e, m, "Once upon a time there was a", sp, &one[1]);
    run_all(e);
    for (int k = 0; k < 2; k++)
        CHECK_MSG(pair.n[k] == 30 && memcmp(pair.ids[k], one[k].ids[0], sizeof pair.ids[k]) == 0, "sample %d", k);
    CHECK(memcmp(pair.ids[0], pair.ids[1], sizeof pair.ids[0]) != 0); /* different streams */
    loom_engine_metrics end;
    loom_engine_get_metrics(e, &end);
    CHECK(end.kv_blocks_free == end.kv_blocks_total);
    loom_engine_free(e);
    loom_model_free(m);
}

static void test_rejects_bad_requests(void) {
    loom_model *m = load_stories();
    if (!m) return;
    loom_engine *e = make_engine(m, 12);
    if (!e) return;
    int32_t ids[300] = {1};
    loom_request_params rp = greedy(10);
    rp.prompt_ids = ids;
    rp.n_prompt = 300;
    loom_error err = {0};
    CHECK(loom_engine_add_request(e, &rp, NULL, &err) == LOOM_ERR_INVALID_ARG); /* > max_model_len 192 */
    CHECK(strstr(err.message, "max_model_len") != NULL);
    rp.n_prompt = 100;
    rp.sampling.top_p = 2;
    CHECK(loom_engine_add_request(e, &rp, NULL, &err) == LOOM_ERR_INVALID_ARG);
    CHECK(!loom_engine_has_work(e));
    loom_engine_free(e);
    loom_model_free(m);
}

static void count_event(const loom_output *out, void *user) { (void)out, (*(int *)user)++; }

static int32_t blocks_used(loom_engine *e) {
    loom_engine_metrics mt;
    loom_engine_get_metrics(e, &mt);
    return mt.kv_blocks_total - mt.kv_blocks_free;
}

/* n = 4 parallel samples of a 48-token prompt (exactly 3 blocks of 16) store the prompt's KV once: 3
 * blocks after the prefill step, then one private block each for the tokens they write (3 + 4), where
 * four separate copies would need 4 x 3 + 4. Prefix caching is off, so only forking can share. */
static void test_parallel_samples_share_prompt_blocks(void) {
    loom_model *m = load_stories();
    loom_engine_params p = loom_engine_default_params();
    p.n_threads = 1;
    p.num_kv_blocks = 64;
    p.max_model_len = 192;
    p.enable_prefix_caching = 0;
    loom_engine *e = NULL;
    loom_error err = {0};
    CHECK_MSG(loom_engine_create(m, &p, &e, &err) == LOOM_OK, "%s", err.message);
    int32_t prompt[48];
    for (int i = 0; i < 48; i++) prompt[i] = 3 + (i * 37) % 500; /* any in-vocabulary ids */
    loom_request_params rp = loom_request_default_params();
    rp.n = 4;
    rp.sampling.seed = 7;
    rp.sampling.has_seed = 1;
    rp.max_tokens = 3;
    rp.ignore_eos = 1;
    int events = 0;
    rp.prompt_ids = prompt;
    rp.n_prompt = 48;
    rp.on_output = count_event;
    rp.user = &events;
    uint64_t id;
    CHECK_MSG(loom_engine_add_request(e, &rp, &id, &err) == LOOM_OK, "%s", err.message);
    CHECK(loom_engine_step(e, &err) == LOOM_OK); /* prefill + the first token of each sample */
    CHECK_MSG(blocks_used(e) == 3, "%d blocks after the prefill", blocks_used(e));
    CHECK(loom_engine_step(e, &err) == LOOM_OK); /* each sample writes its token at position 48 */
    CHECK_MSG(blocks_used(e) == 3 + 4, "%d blocks after the first decode", blocks_used(e));
    run_all(e);
    CHECK(events >= 4);
    CHECK(blocks_used(e) == 0);
    loom_engine_free(e);
    loom_model_free(m);
}

/* Speculative decoding settings are checked at create, each with a message naming the field. */
static void test_rejects_bad_speculation(void) {
    loom_model *m = load_stories();
    if (!m) return;
    loom_model *other = load_shared("llama-2-tiny-random/llama-2-tiny-random.gguf");
    loom_error err = {0};
    struct {
        loom_spec_method method;
        int32_t k, ngram_min, ngram_max;
        loom_model *draft;
        const char *message;
    } cases[] = {
        {LOOM_SPEC_NGRAM, 0, 1, 4, NULL, "num_speculative_tokens must be in [1, 16]"},
        {LOOM_SPEC_NGRAM, LOOM_MAX_SPEC_TOKENS + 1, 1, 4, NULL, "num_speculative_tokens must be in [1, 16]"},
        {LOOM_SPEC_NGRAM, 3, 3, 2, NULL, "ngram_prompt_lookup_min"},
        {LOOM_SPEC_DRAFT_MODEL, 3, 1, 4, NULL, "needs a draft model"},
        {LOOM_SPEC_DRAFT_MODEL, 3, 1, 4, other, "vocabulary has 32000 tokens, the target's 512"},
        {(loom_spec_method)7, 3, 1, 4, NULL, "speculative_method"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        loom_engine_params p = loom_engine_default_params();
        p.max_model_len = 192;
        p.speculative_method = cases[i].method;
        p.num_speculative_tokens = cases[i].k;
        p.ngram_prompt_lookup_min = cases[i].ngram_min;
        p.ngram_prompt_lookup_max = cases[i].ngram_max;
        p.draft_model = cases[i].draft;
        loom_engine *e = NULL;
        err = (loom_error){0};
        CHECK(loom_engine_create(m, &p, &e, &err) == LOOM_ERR_INVALID_ARG && e == NULL);
        CHECK_MSG(strstr(err.message, cases[i].message) != NULL, "case %zu: %s", i, err.message);
    }
    loom_model_free(other);
    loom_model_free(m);
}

int main(void) {
    RUN(test_abort_frees_blocks_and_keeps_others);
    RUN(test_parallel_samples_share_prompt_blocks);
    RUN(test_abort_waiting_and_preempted);
    RUN(test_engine_thread_matches_stepping);
    RUN(test_parallel_samples_equal_separate_requests);
    RUN(test_rejects_bad_requests);
    RUN(test_rejects_bad_speculation);
    return check_summary();
}

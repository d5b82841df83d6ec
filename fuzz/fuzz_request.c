/* libFuzzer: the input is the JSON body of a generation request. The first byte picks the endpoint
 * (completions or chat); the rest goes through srv_request_parse, the path both endpoints share from
 * the body to sampling parameters. On success the result must hold what the parser promises (a
 * prompt or messages, valid sampling parameters); on failure the error must be a 4xx with a message
 * and render as OpenAI's error JSON. Crashes, leaks and sanitizer reports are failures. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    srv_endpoint ep = (data[0] & 1) ? SRV_CHAT : SRV_COMPLETIONS;
    const srv_request_limits lim = {.vocab_size = 49152, .max_model_len = 8192, .max_prompts = 64};
    srv_request r;
    srv_error e;
    if (srv_request_parse(ep, (const char *)data + 1, size - 1, &lim, &r, &e) == 0) {
        loom_error err;
        if (loom_sampling_params_validate(&r.params.sampling, lim.vocab_size, &err) != LOOM_OK) abort();
        if (ep == SRV_CHAT ? !r.messages_json : r.n_prompts == 0) abort();
        for (size_t i = 0; i < r.n_prompts; i++)
            for (size_t k = 0; k < r.prompts[i].n_ids; k++)
                if (r.prompts[i].ids[k] < 0 || r.prompts[i].ids[k] >= lim.vocab_size) abort();
        srv_request_free(&r);
        return 0;
    }
    if (e.http_status < 400 || e.http_status >= 500 && e.http_status != 503) abort();
    if (!e.message[0]) abort();
    char *body = srv_error_body(&e);
    if (!body) abort();
    free(body);
    return 0;
}

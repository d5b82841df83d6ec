/* Tool-call formats: their names, which one a chat template uses, and the structural tag
 * (src/grammar/structural_tag.c) that makes a model's answer a valid call in its own format. Each
 * function becomes one tag whose begin is the call's text up to the arguments, written as the model's
 * chat template renders past calls ({"name": "get_weather", "arguments": ...), whose content is the
 * function's parameters schema and whose end closes the call. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/request_internal.h"
#include "api/tool_calls.h"

static const char *const format_names[] = {"hermes", "llama3_json", "mistral"};

int api_tool_format_parse(const char *name) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, format_names[i])) return i;
    return -1;
}

const char *api_tool_format_name(api_tool_format f) { return format_names[f]; }

api_tool_format api_tool_format_detect(const char *src) {
    if (!src || strstr(src, "<tool_call>")) return API_TOOLS_HERMES;
    if (strstr(src, "[TOOL_CALLS]")) return API_TOOLS_MISTRAL;
    if (strstr(src, "<|python_tag|>") || (strstr(src, "<|start_header_id|>") && strstr(src, "\"parameters\": ")))
        return API_TOOLS_LLAMA3_JSON;
    return API_TOOLS_HERMES;
}

/* One function's tag. Names are letters, digits, '_' and '-' (request_tools.c): literal in JSON text. */
static json_t *call_tag(api_tool_format f, json_t *fn) {
    static const char *const begin_fmt[] = {
        "<tool_call>\n{\"name\": \"%s\", \"arguments\": ", "{\"name\": \"%s\", \"parameters\": ",
        "{\"name\": \"%s\", \"arguments\": "};
    static const char *const end[] = {"}\n</tool_call>", "}", "}"};
    char begin[160];
    snprintf(begin, sizeof begin, begin_fmt[f], json_string_value(json_object_get(fn, "name")));
    json_t *params = json_object_get(fn, "parameters");
    json_t *schema = json_is_object(params) ? json_incref(params) : json_pack("{s:s}", "type", "object");
    return json_pack("{s:s, s:s, s:{s:s, s:o}, s:s}", "type", "tag", "begin", begin, "content", "type", "json_schema",
                     "json_schema", schema, "end", end[f]);
}

/* The tags of the functions tool_choice allows. */
static json_t *allowed_tags(const api_tools *t, api_tool_format f) {
    json_t *tools = json_loads(t->tools_json, 0, NULL), *tags = json_array();
    for (size_t i = 0; tags && i < json_array_size(tools); i++) {
        json_t *fn = json_object_get(json_array_get(tools, i), "function");
        if (t->choice == API_TOOL_CHOICE_NAMED && strcmp(json_string_value(json_object_get(fn, "name")), t->named))
            continue;
        if (json_array_append_new(tags, call_tag(f, fn))) {
            json_decref(tags);
            tags = NULL;
        }
    }
    json_decref(tools);
    return tools ? tags : (json_decref(tags), NULL);
}

static json_t *forced_calls(api_tool_format f, json_t *tags, int parallel) {
    static const char *const separator[] = {"\n", "; ", ", "};
    json_t *calls = json_pack("{s:s, s:o, s:s, s:b, s:b}", "type", "tags_with_separator", "tags", tags, "separator",
                              separator[f], "at_least_one", 1, "stop_after_first", !parallel);
    if (f != API_TOOLS_MISTRAL) return calls;
    /* [TOOL_CALLS] is in the prompt; then " [" (the space is how its tokenizer writes it) calls "]" */
    return json_pack("{s:s, s:[{s:s, s:{s:s, s:s}}, {s:s, s:s}, o, {s:s, s:s}]}", "type", "sequence", "elements",
                     "type", "optional", "content", "type", "const_string", "value", " ", "type", "const_string",
                     "value", "[", calls, "type", "const_string", "value", "]");
}

int api_tool_constraint(api_request *r, api_tool_format f, const char **prompt_suffix, api_error *e) {
    const api_tools *t = &r->tools;
    *prompt_suffix = NULL;
    int forced = t->choice == API_TOOL_CHOICE_REQUIRED || t->choice == API_TOOL_CHOICE_NAMED;
    if (forced && r->constraint_field)
        return api_fail(e, 400, "tool_choice",
                        "tool_choice \"%s\" and '%s' both constrain the output: give one of them",
                        t->choice == API_TOOL_CHOICE_REQUIRED ? "required" : "function", r->constraint_field);
    /* auto: only hermes has a text-level opener to trigger on; another constraint takes precedence */
    if (!forced && (t->choice != API_TOOL_CHOICE_AUTO || f != API_TOOLS_HERMES || r->constraint_field)) return 0;
    json_t *tags = allowed_tags(t, f), *format = NULL;
    if (tags && forced) format = forced_calls(f, tags, t->parallel);
    else if (tags)
        format = json_pack("{s:s, s:[s], s:o, s:b}", "type", "triggered_tags", "triggers", "<tool_call>", "tags", tags,
                           "stop_after_first", !t->parallel);
    json_t *spec = format ? json_pack("{s:s, s:o}", "type", "structural_tag", "format", format) : NULL;
    char *text = spec ? json_dumps(spec, JSON_COMPACT) : NULL;
    json_decref(spec);
    if (!text) return api_fail(e, 503, NULL, "out of memory");
    if (forced && f == API_TOOLS_MISTRAL) *prompt_suffix = "[TOOL_CALLS]";
    return api_set_constraint(r, "tools", LOOM_CONSTRAINT_STRUCTURAL_TAG, text, e);
}

/* Tools in a chat request (OpenAI's shape):
 *   tools: [{"type": "function", "function": {"name", "description", "parameters": JSON Schema, "strict"}}]
 *   tool_choice: "none" | "auto" (the default with tools) | "required"
 *              | {"type": "function", "function": {"name": ...}}
 *   parallel_tool_calls: true (default) | false
 * and the tool calls of assistant messages fed back: [{"id", "type": "function", "function": {"name",
 * "arguments": "JSON text"}}], whose arguments become objects for the template. Function names follow
 * OpenAI's rule (letters, digits, '_' and '-', at most 64), which also keeps them literal inside the
 * tool-call grammars. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/request_internal.h"

static int valid_name(json_t *name) {
    const char *s = json_string_value(name);
    size_t n = json_string_length(name);
    if (!s || n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

int api_parse_tools(parse_state *ps, const field *f, json_t *v, api_error *e) {
    if (!json_is_array(v)) return api_fail(e, 400, "tools", "tools must be a list of {\"type\": \"function\", ...}");
    size_t n = json_array_size(v);
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(v, i), *type = json_object_get(t, "type"), *fn = json_object_get(t, "function");
        json_t *name = json_object_get(fn, "name"), *params = json_object_get(fn, "parameters");
        if (!json_is_string(type) || strcmp(json_string_value(type), "function") || !json_is_object(fn))
            return api_fail(e, 400, "tools", "tools[%zu] must be {\"type\": \"function\", \"function\": {...}}", i);
        if (!valid_name(name))
            return api_fail(e, 400, "tools",
                            "tools[%zu].function.name must be 1 to 64 letters, digits, underscores or dashes", i);
        if (params && !json_is_object(params) && !json_is_null(params))
            return api_fail(e, 400, "tools", "tools[%zu].function.parameters must be a JSON Schema object", i);
        for (size_t k = 0; k < i; k++)
            if (json_equal(name, json_object_get(json_object_get(json_array_get(v, k), "function"), "name")))
                return api_fail(e, 400, "tools", "tools[%zu]: the function name '%s' is used twice", i,
                                json_string_value(name));
    }
    api_tools *t = &ps->r->tools;
    if (n == 0) return 0;
    t->n_tools = n;
    return (t->tools_json = json_dumps(v, JSON_COMPACT)) ? 0 : api_oom(e);
}

int api_parse_tool_choice(parse_state *ps, const field *f, json_t *v, api_error *e) {
    api_tools *t = &ps->r->tools;
    ps->tool_choice_given = 1;
    if (json_is_string(v)) {
        static const char *const names[] = {"none", "auto", "required"};
        for (int k = 0; k < 3; k++)
            if (!strcmp(json_string_value(v), names[k])) {
                t->choice = (api_tool_choice)k;
                return 0;
            }
    } else if (json_is_object(v)) {
        json_t *type = json_object_get(v, "type"), *name = json_object_get(json_object_get(v, "function"), "name");
        if (json_is_string(type) && !strcmp(json_string_value(type), "function") && json_is_string(name)) {
            t->choice = API_TOOL_CHOICE_NAMED;
            return (t->named = strdup(json_string_value(name))) ? 0 : api_oom(e);
        }
    }
    return api_fail(e, 400, "tool_choice",
                    "tool_choice must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": "
                    "{\"name\": ...}}");
}

int api_check_tools(parse_state *ps, api_error *e) {
    api_tools *t = &ps->r->tools;
    if (!ps->tool_choice_given) t->choice = t->n_tools ? API_TOOL_CHOICE_AUTO : API_TOOL_CHOICE_NONE;
    if (!t->n_tools) {
        if (t->choice == API_TOOL_CHOICE_REQUIRED || t->choice == API_TOOL_CHOICE_NAMED)
            return api_fail(e, 400, "tool_choice", "tool_choice needs tools");
        t->choice = API_TOOL_CHOICE_NONE;
        return 0;
    }
    if (t->choice != API_TOOL_CHOICE_NAMED) return 0;
    json_t *tools = json_loads(t->tools_json, 0, NULL);
    int found = 0;
    for (size_t i = 0; i < json_array_size(tools) && !found; i++) {
        json_t *name = json_object_get(json_object_get(json_array_get(tools, i), "function"), "name");
        found = !strcmp(json_string_value(name), t->named);
    }
    json_decref(tools);
    if (!tools) return api_oom(e);
    return found
        ? 0
        : api_fail(e, 400, "tool_choice", "tool_choice names '%.64s', which is not one of the tools", t->named);
}

int api_message_tool_calls(json_t *message, size_t i, api_error *e) {
    json_t *calls = json_object_get(message, "tool_calls");
    if (!calls || json_is_null(calls)) return 0;
    if (!json_is_array(calls)) return api_fail(e, 400, "messages", "messages[%zu].tool_calls must be a list", i);
    for (size_t k = 0; k < json_array_size(calls); k++) {
        json_t *call = json_array_get(calls, k), *fn = json_object_get(call, "function");
        json_t *name = json_object_get(fn, "name"), *args = json_object_get(fn, "arguments");
        if (!json_is_object(fn) || !json_is_string(name))
            return api_fail(e, 400, "messages", "messages[%zu].tool_calls[%zu] needs function.name", i, k);
        if (!json_is_string(args)) {
            if (args && !json_is_object(args))
                return api_fail(e, 400, "messages",
                                "messages[%zu].tool_calls[%zu].function.arguments must be a JSON "
                                "string",
                                i, k);
            continue;
        }
        json_error_t je;
        json_t *parsed = json_loadb(json_string_value(args), json_string_length(args), JSON_DECODE_ANY, &je);
        if (!parsed)
            return api_fail(e, 400, "messages",
                            "messages[%zu].tool_calls[%zu].function.arguments is not valid JSON: %s", i, k, je.text);
        if (json_object_set_new(fn, "arguments", parsed)) return api_oom(e);
    }
    return 0;
}

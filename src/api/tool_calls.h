/* Tool calls in a model's own format (vLLM's --tool-call-parser): the grammar that makes a model call
 * its tools (tool_calls.c), and the parser that reads the calls out of its text, whole or streamed
 * (tool_parser.c). Formats:
 *   hermes       Qwen2.5 / Hermes / ChatML models: <tool_call>\n{"name": N, "arguments": {...}}\n</tool_call>,
 *                any number, with text around them; an answer that starts with bare {"name": ...} objects
 *                (small models leave the tags out) is read as calls too;
 *   llama3_json  Llama 3.1 / 3.2: the answer is [<|python_tag|>]{"name": N, "parameters": {...}}, calls
 *                separated by "; " ("arguments" is read too); an answer not starting with '{' is text;
 *   mistral      Mistral v0.3: [TOOL_CALLS] [{"name": N, "arguments": {...}}, ...] after optional text
 *                ([TOOL_CALLS] is a special token: requests with tools keep special tokens in the text).
 * A call's arguments are the JSON text the model wrote, which the grammar makes valid for the
 * function's parameters whenever it applies. */
#ifndef LOOM_API_TOOL_CALLS_H
#define LOOM_API_TOOL_CALLS_H

#include <stddef.h>
#include <stdint.h>

#include "api/request.h"

typedef enum api_tool_format { API_TOOLS_HERMES = 0, API_TOOLS_LLAMA3_JSON, API_TOOLS_MISTRAL } api_tool_format;

/* "hermes", "llama3_json", "mistral" -> the format; -1 for another name. */
int api_tool_format_parse(const char *name);
const char *api_tool_format_name(api_tool_format f);
/* The format a chat template writes tool calls in (for --tool-call-parser auto): <tool_call> -> hermes,
 * [TOOL_CALLS] -> mistral, <|python_tag|> or Llama 3's headers with "parameters" -> llama3_json, and
 * hermes for a template with none of them. */
api_tool_format api_tool_format_detect(const char *template_source);

/* The constraint tool_choice asks for, into r->params.constraint (a structural tag; its errors name
 * "tools"): required / a named function: exactly the format's calls of the allowed functions (one
 * unless parallel_tool_calls), their arguments valid JSON for the function's parameters; auto (hermes):
 * free text in which every <tool_call> must become a valid call; none or auto otherwise: nothing.
 * Required or named beside a response_format / guided constraint is a 400 naming both. *prompt_suffix:
 * text to append to the rendered prompt ("[TOOL_CALLS]" for mistral when calls are forced, else NULL). */
int api_tool_constraint(api_request *r, api_tool_format f, const char **prompt_suffix, api_error *e);

/* ---- reading the calls ---- */

typedef struct api_tool_call_delta {
    int32_t index; /* the call's position in the answer */
    char *id;      /* in the call's first delta (with its name), else NULL */
    char *name;
    char *arguments; /* a fragment of the arguments' JSON text ("" in a first delta without any yet) */
} api_tool_call_delta;

/* What one push gave: text for the content, and call deltas. Free with api_tool_delta_clear. */
typedef struct api_tool_delta {
    char *content; /* NULL: none */
    api_tool_call_delta *calls;
    size_t n_calls, cap_calls;
} api_tool_delta;

void api_tool_delta_clear(api_tool_delta *d);

typedef struct api_tool_parser api_tool_parser;

/* opened: the prompt already ends with the format's opener (api_tool_constraint's prompt_suffix).
 * id_seed makes the call ids (call_ + 24 letters and digits; mistral: 9, as its template requires).
 * tools_json: the request's tools; a call naming another function is not a call (NULL: any name).
 * NULL when out of memory. */
api_tool_parser *api_tool_parser_create(api_tool_format f, int opened, uint64_t id_seed, const char *tools_json);
void api_tool_parser_free(api_tool_parser *p);
/* Feeds the next piece of the model's text; appends to *out what can be told so far. Text that may
 * still turn out to be part of a call is held back. 0, or -1 when out of memory. */
int api_tool_parser_push(api_tool_parser *p, const char *text, size_t len, api_tool_delta *out);
/* At the end of the text: releases what was held. Whitespace-only content beside calls is dropped. */
int api_tool_parser_finish(api_tool_parser *p, api_tool_delta *out);
/* Calls completed so far. */
int32_t api_tool_parser_calls(const api_tool_parser *p);
/* The text could not be read as the format says after an opener (malformed, or cut off inside a call):
 * a whole-answer reader should then report the text as content, without calls (vLLM's rule). */
int api_tool_parser_failed(const api_tool_parser *p);

#endif

"""A local HTTP server that speaks the Anthropic Messages and OpenAI Chat Completions streaming
wire formats (SSE, chunked transfer) — including Gemini's OpenAI-compatible path — and misbehaves
on demand, so the tests drive the *real* SDKs.

Text is deterministic: the reply is the words ``w0 w1 … w<n-1>``. A request that continues an
earlier reply (an assistant message at the end) carries on numbering after the words it already
has, so a correct mid-stream failover yields exactly ``w0 … w<n-1>`` once.

Faults are asked for in the prompt, per model: ``[[fake-primary:fault=reset&after=5&times=1]]``
makes the first request (per task id) to model ``fake-primary`` stream five words and then drop
the connection. Faults: ``429`` (with ``retry_after``), ``500``, ``529`` (Anthropic overloaded),
``reset``, ``stall`` (silence for ``stall`` seconds), ``malformed`` (an undecodable event),
``nousage``. ``words`` sets the reply length, ``delay_ms`` the pause between words.

A request that asks for a structured result natively (Anthropic: a forced tool; OpenAI:
``response_format`` with a JSON Schema) is answered with the JSON given by the ``json`` option
(URL-encoded), streamed as ``input_json_delta`` / content deltas; ``fake.requests`` records what
was asked (``structured``: ``tool`` or ``json_schema``, and the schema).

Anthropic prompt caching is simulated: a prefix marked with ``cache_control`` is written to the
server's cache on first sight (``cache_creation_input_tokens``) and read from it after that
(``cache_read_input_tokens``), a token a word; unmarked requests report two cached tokens.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

_SPEC = re.compile(r"\[\[([\w.-]+):([^\]]*)\]\]")
_TASK = re.compile(r"\[\[task:([\w-]+)\]\]")


class FakeProvider:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.counts: Counter[tuple[str, str]] = Counter()
        self.cached: set[tuple[str, str]] = set()  # (model, prefix) marked cache_control
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = _QuietServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeProvider:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def plan(self, model: str, prompt: str) -> dict[str, str]:
        """The fault options for this request, counting requests per (task, model)."""
        task = _TASK.search(prompt)
        key = (task.group(1) if task else "", model)
        with self.lock:
            self.counts[key] += 1
            n = self.counts[key]
        for target, query in _SPEC.findall(prompt):
            if target == model:
                options = dict(parse_qsl(query))
                if n <= int(options.get("times", "1")):
                    return options
                return {k: v for k, v in options.items() if k in ("words", "delay_ms")}
        return {}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up on a stalled or dropped stream is the point of the fault


def _words(start: int, count: int) -> list[str]:
    return [("" if i == 0 else " ") + f"w{i}" for i in range(start, count)]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeProvider
    protocol_version = "HTTP/1.1"

    def log_message(self, *_: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
        anthropic = self.path.endswith("/messages")
        messages = body["messages"]
        prompt = " ".join(_text(m.get("content")) for m in messages
                          if m["role"] in ("user", "system"))
        prompt += " " + str(body.get("system", ""))
        prior = ""
        if anthropic and messages[-1]["role"] == "assistant":
            prior = messages[-1]["content"]
        elif not anthropic and len(messages) >= 2 and messages[-2]["role"] == "assistant":
            prior = messages[-2]["content"]
        plan = self.fake.plan(body["model"], prompt)
        structured, schema = _structured(body)
        self.fake.requests.append({
            "path": self.path, "model": body["model"], "stream": bool(body.get("stream")),
            "continuation": prior, "auth": bool(self.headers.get("x-api-key")
                                                or self.headers.get("authorization")),
            "structured": structured, "schema": schema})
        fault = plan.get("fault", "")
        if fault in ("429", "500", "529"):
            return self._error(int(fault), anthropic, plan.get("retry_after"))
        total = int(plan.get("words", "30"))
        have = len(prior.split())
        words = (re.findall(r"\s*\S+", plan.get("json", '{"words": 30}')) if structured
                 else _words(have, total))
        usage_in, usage_out = len(prompt.split()), len(words)
        cache = {"cache_read_input_tokens": 2, "cache_creation_input_tokens": 0}
        prefix = _cached_prefix(body) if anthropic else None
        if prefix is not None:
            key, tokens = (body["model"], prefix), len(prefix.split())
            with self.fake.lock:
                seen = key in self.fake.cached
                self.fake.cached.add(key)
            cache = {"cache_read_input_tokens": tokens if seen else 0,
                     "cache_creation_input_tokens": 0 if seen else tokens}
            usage_in -= tokens
        if not body.get("stream"):
            return self._json(200, _complete_body(body["model"], "".join(words), usage_in,
                                                  usage_out, anthropic,
                                                  cache if prefix is not None else {},
                                                  structured == "tool"))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        events = (_anthropic_events(body["model"], words, usage_in, fault != "nousage", cache,
                                    structured == "tool")
                  if anthropic else
                  _openai_events(body["model"], words, usage_in, fault != "nousage"))
        after = int(plan.get("after", "-1"))
        delay = float(plan.get("delay_ms", "0")) / 1000
        sent_words = 0
        for event, is_word in events:
            if is_word:
                if sent_words == after:
                    return self._misbehave(fault, plan)
                sent_words += 1
                if delay:
                    time.sleep(delay)
            self._chunk(event)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _misbehave(self, fault: str, plan: dict[str, str]) -> None:
        if fault == "stall":
            time.sleep(float(plan.get("stall", "5")))
        elif fault == "malformed":
            self._chunk("event: content_block_delta\ndata: {not json\n\n")
            self._chunk("data: {not json\n\n")
            time.sleep(0.2)
        # reset (and the end of any other fault): drop the connection without ending the body,
        # after a pause so the client has read what was sent (an RST discards unread data)
        self.wfile.flush()
        time.sleep(0.2)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _json(self, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, anthropic: bool, retry_after: str | None) -> None:
        kind = {429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}[status]
        payload: dict[str, Any] = (
            {"type": "error", "error": {"type": kind, "message": f"fake {kind}"}} if anthropic
            else {"error": {"message": f"fake {kind}", "type": kind, "code": None}})
        headers = {"retry-after": retry_after} if retry_after else {}
        self._json(status, payload, headers)


def _structured(body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """How the request asks for a structured result natively, and the schema it gives."""
    if body.get("tools") and body.get("tool_choice", {}).get("type") == "tool":
        return "tool", body["tools"][0]["input_schema"]
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return "json_schema", response_format["json_schema"]["schema"]
    return None, None


def _sse(event: str | None, data: dict[str, Any] | str) -> str:
    text = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "") + f"data: {text}\n\n"


def _text(content: Any) -> str:
    """A message's text: a string, or its content blocks' texts."""
    if isinstance(content, list):
        return " ".join(str(block.get("text", "")) for block in content)
    return str(content)


def _cached_prefix(body: dict[str, Any]) -> str | None:
    """The system prompt and the user's blocks up to the last one marked ``cache_control``."""
    blocks = body["messages"][0].get("content")
    if not isinstance(blocks, list):
        return None
    marked = [i for i, block in enumerate(blocks) if block.get("cache_control")]
    if not marked:
        return None
    return " ".join([str(body.get("system", ""))]
                    + [str(b.get("text", "")) for b in blocks[:marked[-1] + 1]])


def _anthropic_events(model: str, words: list[str], usage_in: int, with_usage: bool,
                      cache: dict[str, int], tool: bool = False) -> list[tuple[str, bool]]:
    usage = {"input_tokens": usage_in, "output_tokens": 1, **cache}
    block = ({"type": "tool_use", "id": "toolu_fake", "name": "record_result", "input": {}}
             if tool else {"type": "text", "text": ""})

    def delta_of(word: str) -> dict[str, str]:
        return ({"type": "input_json_delta", "partial_json": word} if tool
                else {"type": "text_delta", "text": word})

    start = {"type": "message_start", "message": {
        "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": usage}}
    out = [(_sse("message_start", start), False),
           (_sse("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": block}), False),
           (_sse("ping", {"type": "ping"}), False)]
    out += [(_sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": delta_of(w)}), True)
            for w in words]
    out.append((_sse("content_block_stop", {"type": "content_block_stop", "index": 0}), False))
    delta: dict[str, Any] = {"type": "message_delta",
                             "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                             "usage": {"output_tokens": len(words)}}
    if with_usage:
        out.append((_sse("message_delta", delta), False))
    out.append((_sse("message_stop", {"type": "message_stop"}), False))
    return out


def _openai_events(model: str, words: list[str], usage_in: int,
                   with_usage: bool) -> list[tuple[str, bool]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                "model": model, "choices": [{"index": 0, "delta": delta,
                                             "finish_reason": finish}]}

    out = [(_sse(None, chunk({"role": "assistant", "content": ""})), False)]
    out += [(_sse(None, chunk({"content": w})), True) for w in words]
    out.append((_sse(None, chunk({}, "stop")), False))
    if with_usage:
        out.append((_sse(None, {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                                "created": 0, "model": model, "choices": [],
                                "usage": {"prompt_tokens": usage_in + 3,
                                          "completion_tokens": len(words),
                                          "total_tokens": usage_in + 3 + len(words),
                                          "prompt_tokens_details": {"cached_tokens": 3}}}),
                    False))
    out.append(("data: [DONE]\n\n", False))
    return out


def _complete_body(model: str, text: str, usage_in: int, usage_out: int,
                   anthropic: bool, cache: dict[str, int], tool: bool = False) -> dict[str, Any]:
    if anthropic:
        content = ({"type": "tool_use", "id": "toolu_fake", "name": "record_result",
                    "input": json.loads(text)} if tool else {"type": "text", "text": text})
        return {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                "content": [content], "stop_reason": "tool_use" if tool else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": usage_in, "output_tokens": usage_out, **cache}}
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": usage_in, "completion_tokens": usage_out,
                      "total_tokens": usage_in + usage_out}}

"""What the fuzz properties draw: request bodies (plain bytes, JSON, JSON with the hostile parts
found in the wild), headers, events, and HTTP/1.1 byte streams built from valid requests and
mutations of them (smuggling shapes included)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from stack.clients.providers import PROVIDERS

# --- JSON bodies ------------------------------------------------------------------------------------

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)

# Parts that are valid JSON only in some readers, or valid JSON that strains a reader.
HOSTILE_VALUES = (
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1e-400",
    "9" * 4300,
    "9" * 4301,
    "1" * 250 + "e99",
    '"\\ud800"',
    '"\\udc00\\ud800"',
    '"\\ud83d\\ude00"',
    '"\\u0000"',
    '"\ufffe\uffff"',
    '"\\\\ud800"',
    "[" * 199 + "]" * 199,
    "[" * 200 + "]" * 200,
    "[" * 5000 + "]" * 5000,
    '{"a":' * 300 + "1" + "}" * 300,
    "-0",
    "0.0e+0",
    "01",
    "1.",
    '"\t"',
    "tru",
)


@st.composite
def hostile_json_texts(draw: st.DrawFn) -> str:
    """An object whose envelope fields are right for every provider, with one hostile value in it."""
    envelope: dict[str, Any] = {
        "id": draw(st.sampled_from(["evt_1", "in_1", "x"])),
        "type": draw(st.sampled_from(["invoice.paid", "user.created", "x"])),
        "repository": {"full_name": "octo/widgets"},
    }
    text = json.dumps(envelope)
    hostile = draw(st.sampled_from(HOSTILE_VALUES))
    where = draw(st.sampled_from(["field", "duplicate", "nested", "prefix", "suffix", "whole"]))
    if where == "field":
        return text[:-1] + f', "hostile": {hostile}}}'
    if where == "duplicate":
        return text[:-1] + f', "id": {hostile}, "id": "evt_2"}}'
    if where == "nested":
        return text[:-1] + f', "data": {{"object": [{hostile}]}}}}'
    if where == "prefix":
        return hostile + text
    if where == "suffix":
        return text + hostile
    return hostile


json_texts = st.builds(json.dumps, json_values) | hostile_json_texts()
request_bodies: st.SearchStrategy[bytes] = (
    json_texts.map(lambda text: text.encode("utf-8", "surrogatepass"))
    | st.binary(max_size=200)
    | st.builds(lambda text, cut: text.encode()[:cut], json_texts, st.integers(0, 60))
    | st.just(b"\xef\xbb\xbf{}")
)

# --- headers and events -------------------------------------------------------------------------------

HEADER_NAMES = (
    "Content-Type",
    "X-Shopify-Topic",
    "X-Shopify-Hmac-Sha256",
    "X-Shopify-Shop-Domain",
    "X-Shopify-Webhook-Id",
    "X-Shopify-API-Version",
    "Stripe-Signature",
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-Hub-Signature-256",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "Host",
    "X-Forwarded-Proto",
)
header_values = st.text(max_size=40) | st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "t=1,v1=00", "sha256=00", "v1,AAAA", "0", "-1", ""]
)
_any_headers = st.dictionaries(st.sampled_from(HEADER_NAMES) | st.text(max_size=12), header_values, max_size=10)
# Half of them past the Content-Type check, so that the later checks see arbitrary input too.
header_maps = _any_headers | _any_headers.map(lambda headers: {**headers, "Content-Type": "application/json"})
provider_names = st.sampled_from(PROVIDERS) | st.sampled_from(PROVIDERS) | st.text(max_size=12)
ALLOWED_CONTEXT = {"tenant": "acme", "providers": ",".join(PROVIDERS)}
authorizer_contexts = st.one_of(
    st.just(ALLOWED_CONTEXT),
    st.just(ALLOWED_CONTEXT),
    st.dictionaries(st.sampled_from(["tenant", "providers", "principalId"]), st.text(max_size=20), max_size=3),
    st.none(),
    st.integers(),
)

# The status endpoint: an id, and what the events table holds for the one id that exists.
STORED_EVENT_ID = "evt_" + "0" * 32
STORED_ITEM = {
    "id": {"S": STORED_EVENT_ID},
    "tenant": {"S": "acme"},
    "status": {"S": "PROCESSED"},
    "received_at": {"N": "1700000000000"},
    "attempts": {"N": "1"},
}
event_ids = st.text(max_size=40) | st.sampled_from([STORED_EVENT_ID, "evt_" + "f" * 32]) | st.none() | st.integers()
stored_items = st.sampled_from(
    [STORED_ITEM, {**STORED_ITEM, "tenant": {"S": "globex"}}, {"id": STORED_ITEM["id"]}, None]
)

# --- HTTP/1.1 byte streams ----------------------------------------------------------------------------


@st.composite
def valid_requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE"]))
    path = draw(st.sampled_from(["/", "/dev/webhooks/shopify", "/dev/events/evt_1?x=1", "/a%20b"]))
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.1", "HTTP/1.0"]))
    body = draw(st.binary(max_size=40))
    headers = [("Host", "h")] if version == "HTTP/1.1" or draw(st.booleans()) else []
    headers += draw(
        st.lists(
            st.tuples(
                st.sampled_from(["X-A", "Accept", "Expect", "Connection"]),
                st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
            ),
            max_size=3,
        )
    )
    framing = draw(st.sampled_from(["length", "chunked", "none"])) if body else "none"
    if framing == "chunked" and version == "HTTP/1.1":
        headers.append(("Transfer-Encoding", "chunked"))
        cut = draw(st.integers(0, len(body)))
        chunks = [part for part in (body[:cut], body[cut:]) if part]
        encoded = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in chunks) + b"0\r\n\r\n"
    else:
        headers.append(("Content-Length", str(len(body))))
        encoded = body
    head = f"{method} {path} {version}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("latin-1") + encoded


SMUGGLING_PARTS = (
    b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
    b"Content-Length: 1\r\nContent-Length: 2\r\n",
    b"Content-Length: -1\r\n",
    b"Transfer-Encoding: chunked, identity\r\n",
    b"Transfer-Encoding : chunked\r\n",
    b" folded\r\n",
    b"X: a\nY: b\r\n",
    b"Host: other\r\n",
    b"X: \x00\r\n",
    b"X:\xff\xfe\r\n",
)


@st.composite
def mutated_requests(draw: st.DrawFn) -> bytes:
    """A valid request with bytes inserted, deleted or replaced, or a smuggling-shaped header added."""
    raw = bytearray(draw(valid_requests()))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "header"]))
        at = draw(st.integers(0, len(raw)))
        if kind == "insert":
            raw[at:at] = draw(st.sampled_from([b"\r\n", b"\r", b"\n", b" ", b":", b"0", b"\x00", b"\xff", b";"]))
        elif kind == "delete":
            del raw[at : at + draw(st.integers(1, 4))]
        elif kind == "replace" and at < len(raw):
            raw[at] = draw(st.integers(0, 255))
        else:
            line_end = raw.find(b"\r\n") + 2
            raw[line_end:line_end] = draw(st.sampled_from(SMUGGLING_PARTS))
    return bytes(raw)


@st.composite
def http_streams(draw: st.DrawFn) -> tuple[list[bytes], bool]:
    """(pieces delivered one after the other, whether the client half-closes after them)."""
    requests = draw(
        st.lists(
            valid_requests() | mutated_requests() | st.binary(max_size=60) | st.just(b"\r\n"), min_size=1, max_size=4
        )
    )
    stream = b"".join(requests)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    pieces = [stream[start:end] for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    return [piece for piece in pieces if piece], draw(st.booleans())

"""An answer is let go as soon as the connector drops it: httpx's stream refers back to its
response, and that cycle kept every page of a listing, with its body, until the cycle
collector ran (a full scan's memory grew with its length; sync/http.py breaks it)."""

from __future__ import annotations

import gc
import weakref

import httpx

from sync.http import HttpClient


async def test_a_read_answer_is_freed_without_the_cycle_collector() -> None:
    page = b'{"items": [' + b",".join(b'{"id": %d}' % i for i in range(5000)) + b"]}"
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=page))
    client = HttpClient("http://crm.invalid/", transport=transport, name="crm")
    try:
        gc.collect()
        gc.disable()
        try:
            body, response = await client.call("GET", "contacts")
            assert len(body["items"]) == 5000
            gone = weakref.ref(response)
            del response
            assert gone() is None, "the answer waits for the cycle collector"
        finally:
            gc.enable()
    finally:
        await client.aclose()

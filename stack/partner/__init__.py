"""The partner simulator: the one local stand-in for the third parties hookstack's patterns call,
shared by tests, chaos drills, load runs and ``hookstack partner``. One asyncio HTTP server on
127.0.0.1 (``server.py``), each API in its own module, every request recorded (``records.py``),
faults per API changeable at run time (``faults.py``). See docs/partner-simulator.md.

Partner APIs:

    POST /callbacks/{tenant}          a tenant's callback endpoint: Standard Webhooks signature
                                      verified with the tenant's secret, recorded verified or not,
                                      answered 200 {"received", "verified"} (callbacks.py)
    POST /accounting/invoices         book an invoice, once per Idempotency-Key (required): 201,
                                      a retry replayed, the key with another body 422 (accounting.py)
    POST /payments/charges            charge; POST /payments/refunds: refund (compensation);
                                      Idempotency-Key optional (payments.py)
    POST|PUT|PATCH|DELETE /trickle/…  CDC data under a token-bucket rate limit: 429 + Retry-After
                                      beyond it; accepted requests recorded in order with their
                                      X-Group-Key (trickle.py)

Control routes (never faulted, never recorded):

    GET  /_partner/health                     {"status": "ok", "pid", "apis"}
    GET  /_partner/records/{api}              the API's records (callbacks also: the dedup view by
                                              webhook-id), JSON of the models in records.py
    GET  /_partner/faults                     every API's faults in force
    POST /_partner/faults                     {"api": NAME | "all", "clear"?: bool, <field>: value, …}
                                              e.g. {"api": "callbacks", "outage": true},
                                              {"api": "trickle", "rate_limit_per_s": 5}; 400 and
                                              nothing changed if any part cannot be applied
    POST /_partner/reset                      records and idempotency keys gone, faults back to
                                              the start-up ones (callback secrets stay)
    GET  /_partner/callback-secrets           {"tenants": [...]} (never the secrets)
    PUT  /_partner/callback-secrets/{tenant}  {"secret": "whsec_..."}: set or replace

Python: ``client.PartnerClient`` (the control API, typed), ``process.running_partner`` (a child
process for a ``with`` block), ``process.launch``; ``python -m stack.partner`` runs it.
"""

"""Webhook providers: one module each (``shopify``, ``stripe``, ``github``, ``standard_webhooks``)
on the shared bases of ``base``, listed by ``registry``. See docs/providers.md.

Kept empty of imports: the authorizer imports the registry for the names alone."""

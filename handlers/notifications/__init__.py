"""The notifications pattern's Lambda code: the event envelope published to the completions
topic (``contract``), Standard Webhooks signing (``signing``), tenants' callback subscriptions
(``subscriptions``) and the callback sender (``sender``)."""

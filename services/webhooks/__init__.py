"""Webhook delivery, its own role (`lipsync serve webhooks`): the URL rules checked at submit,
the dispatcher that reads job events, the delivery records, the SSRF-checked target and signing."""

"""Webhooks: per-account HTTPS endpoints told of link changes and batched clicks.

Requests only enqueue (:mod:`.outbox`: rows in ``webhook_deliveries``); the analytics worker
process sends them (:mod:`.dispatcher`), signed (:mod:`.signing`), to addresses checked
against private networks at creation and again at delivery (:mod:`.targets`). The endpoints
are managed in the dashboard (:mod:`.views`) and the API (:mod:`service.api.webhooks`)
through :mod:`.services`.
"""

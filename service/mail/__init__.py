"""Mail infrastructure: addresses, message building, rendering, backends (outbox, SendGrid), suppression,
transactional sending and the provider's event webhook. The digest is one client of it."""

"""Developer tools (local stand-ins for external services)."""

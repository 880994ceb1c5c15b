"""Subscribers: the subscription lifecycle, preferences, tokens and suppression."""

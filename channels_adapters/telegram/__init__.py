"""Telegram: a bot's private chats, through the Bot API (webhook or getUpdates)."""

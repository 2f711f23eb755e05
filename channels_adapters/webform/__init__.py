"""The web contact form channel: a public, embeddable form per account (docs/channels/webform.md)."""

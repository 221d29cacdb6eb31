"""The bot's own pages for people's browsers: passkey registration and step-up (WebAuthn)."""

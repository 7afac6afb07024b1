"""Security: who is calling (tokens, admins), what they may touch, and production hardening."""

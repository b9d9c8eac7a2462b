"""User accounts: sign-up, login/logout on the Redis sessions, passwords."""

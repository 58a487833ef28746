"""The organization's settings page: where each domain's settings are, and the public forms."""

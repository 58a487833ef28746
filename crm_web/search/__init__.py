"""The global search: each domain contributes a provider (crm_web/domains.py), this package
asks those the signed-in user may use."""

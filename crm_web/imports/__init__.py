"""CSV imports: the machinery shared by every kind of record (customers, leads, ...)."""

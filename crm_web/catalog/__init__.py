"""Products, their categories and stock, and the orders that sell them (seeds 000, 002, 003)."""

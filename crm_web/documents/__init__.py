"""Documents the app prints for customers (quotes now), drawn as PDF with a bundled font."""

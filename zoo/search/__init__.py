"""Audio ↔ sheet search: windows of pages and recordings, FAISS indexes, matches per file and position."""

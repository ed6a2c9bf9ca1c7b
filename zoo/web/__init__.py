"""``scorezoo web``: one page for people who do not write code — a photo of a score → notes to see and hear, a
recording → its genre and its score, a genre → new music — over the served models or the library's own."""

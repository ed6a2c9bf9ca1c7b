"""The local server's default caps, in a module without TensorFlow so that ``scorezoo serve --help`` is quick."""

MAX_BATCH = 64  # examples per request; bench-serving's largest batch is 32
MAX_INFLIGHT_MB = 4096  # estimated working memory of all requests running at once
MAX_MESSAGE_MB = 64  # gRPC message and REST body cap; inputs may take half of it
MAX_CONNECTIONS = 64  # open REST connections at once

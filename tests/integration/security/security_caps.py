"""The caps of this suite's server (small, so that each can be reached with small requests)."""
MAX_BATCH, OMR_MAX_BATCH = 4, 2
MAX_INFLIGHT_MB = 200
MAX_CONNECTIONS = 4
IDLE_SECONDS = 1.0
MAX_MESSAGE = 8 << 20

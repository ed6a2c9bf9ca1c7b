"""SavedModel export, TF Serving configuration, local gRPC server and clients."""
import os

# With oneDNN, TensorFlow keeps large CPU buffers in a pool of its own that it never gives back, so a server
# that once ran a big request stays at its peak size; the system allocator returns them (and malloc_trim after a
# burst returns glibc's share, serving.limits.Budget). It must be set before TensorFlow loads; measured in
# docs/decisions/0001-request-limits.md.
os.environ.setdefault("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "true")

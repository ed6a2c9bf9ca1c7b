"""SavedModel export, TF Serving configuration, local gRPC server and clients."""

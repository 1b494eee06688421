"""Model architectures, safe checkpoints and latent-space math. Pure: no sockets, no device choice."""

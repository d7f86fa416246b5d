"""Pure decoders of Kubernetes responses: bytes in, typed values out, DecodeError with a one-line reason."""

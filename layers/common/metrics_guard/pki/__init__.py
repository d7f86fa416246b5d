"""Certificates: inspection (``inspect``) and, for the responder, issuing."""

"""The audit log: replay, tamper evidence (Merkle tree, signed checkpoints), verify, export, explain, what-if.

Modules, each one concept: ``log`` (reading a log stream in order, time and id bounds), ``merkle`` (RFC 6962
hashing and proofs), ``keys`` (Ed25519 key files), ``checkpoint`` (the signed checkpoint format),
``checkpointer`` (the router's task that makes them), ``verify``, ``export``, ``explain``, ``whatif``,
``consult`` (consultation records written by team clients), ``replay`` (``intelbus decisions``).
"""

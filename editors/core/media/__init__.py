"""Media I/O behind ``editors.core.clip``, one module per concern.

Import from ``editors.core.clip``. This file imports nothing on purpose: the isolated decoder child
loads only the modules decoding needs (see isolation.py).
"""

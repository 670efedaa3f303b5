"""Plain-Python core: configuration, classification, hashing, copying and state. No Qt in here."""
